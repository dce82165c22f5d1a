// CURVE keys for Mob's sockets: key files, the allow-list of client keys, the socket options
// that make a socket a CURVE server or client, and a watch on a client's handshakes.
// Pure functions and single-owner objects; see docs/security.md for the key model.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include <zmq.hpp>

#include "bus/error.hpp"
#include "bus/transport.hpp"

namespace mob {

// A CURVE key pair, each key 40 characters of Z85 (32 bytes).
struct KeyPair {
  std::string public_key;
  std::string secret_key;
};

// What a client needs to talk CURVE to an agent: its own pair and the server's public key.
struct ClientKeys {
  KeyPair own;
  std::string server_public_key;
};

// Whether `text` is a 40-character Z85 CURVE key.
bool is_z85_key(std::string_view text);
// A fresh random key pair (zmq_curve_keypair).
Result<KeyPair> generate_key_pair();

// "public=KEY\nsecret=KEY\n" (the mob.key format), and its parser: blank lines and lines
// starting with '#' are skipped; the public key must belong to the secret key.
std::string format_key_file(const KeyPair& keys);
Result<KeyPair> parse_key_file(std::string_view text);
// Reads a key file; refuses one that other users may read (as ssh does): mode must be 0600
// or stricter.
Result<KeyPair> load_key_file(const std::filesystem::path& path);

// A public key given on a command line: the 40-character key itself, or a file holding it
// (a mob.pub file: the key on its own line, or a "public=KEY" line).
Result<std::string> load_public_key(std::string_view key_or_path);

// Writes DIR/mob.key (the pair) and DIR/mob.pub (the public key), both mode 0600. Creates
// DIR (0700) if missing; never overwrites: Errc::conflict when either file exists.
Result<void> write_key_files(const std::filesystem::path& dir, const KeyPair& keys);

// The public keys allowed to connect: the authorized-keys file format is one Z85 key per
// line, optionally followed by whitespace and a comment; a line starting with '#' is a
// comment (no key starts with '#', though keys may contain it); blank lines are skipped.
class AuthorizedKeys {
 public:
  // Errors name the line ("line 3: ... is not a 40-character Z85 key").
  static Result<AuthorizedKeys> parse(std::string_view text);
  static Result<AuthorizedKeys> load(const std::filesystem::path& path);

  void allow(std::string_view z85_key);  // REQUIRED: is_z85_key(z85_key)
  // `binary_key` is the 32-byte key a ZAP request carries.
  bool allows_binary(std::string_view binary_key) const;
  bool allows(std::string_view z85_key) const;
  std::size_t size() const { return binary_keys_.size(); }

 private:
  std::set<std::string> binary_keys_;
};

// The 40-character Z85 text of a 32-byte key; "" when `binary_key` is not 32 bytes.
std::string z85_of(std::string_view binary_key);

// Makes `socket` a CURVE server with `keys` that asks ZAP (domain "mob") about each client.
// REQUIRED: before bind(); a ZAP handler is bound in the socket's context before the socket
// accepts a connection (else libzmq lets every client with the server key in).
void make_curve_server(zmq::socket_t& socket, const KeyPair& keys);
// Makes `socket` a CURVE client. REQUIRED: before connect().
void make_curve_client(zmq::socket_t& socket, const ClientKeys& keys);

// Is `host` (a --bind value) a loopback address: 127.0.0.0/8, ::1 (bracketed or not) or
// ::ffff:127.x.x.x. Names (localhost, interface names) are not: zmq resolves them.
bool is_loopback_host(std::string_view host);

// Watches the handshakes of one client socket (a zmq socket monitor), so that a client can
// tell "refused" from "no answer". Lives on the thread of the socket it watches.
class HandshakeWatch {
 public:
  // unanswered: the TCP connection stood but the handshake never completed (an agent drops
  // a client whose handshake it cannot decrypt: the wrong server key).
  // closed_in_handshake: the agent closed kClosedHandshakesToFail connections in a row during
  // the handshake, before this side could tell why (the agent saw the mismatch first: a
  // client without a key, or a key it cannot decrypt).
  enum class Outcome { refused_key, mechanism_mismatch, protocol_error, unanswered, closed_in_handshake };
  struct Failure {
    Outcome outcome;
    std::uint32_t detail;  // ZAP status code (refused_key), ZMQ_PROTOCOL_ERROR_* value, or closes
  };
  static constexpr std::uint32_t kClosedHandshakesToFail = 3;

  // Attaches to `socket`. REQUIRED: before `socket` connects; `socket` outlives the watch.
  HandshakeWatch(zmq::context_t& context, zmq::socket_t& socket);

  // Poll this for ZMQ_POLLIN together with the watched socket.
  zmq::pollitem_t poll_item();
  // The first handshake failure reported since the last call, if any; never blocks.
  std::optional<Failure> failure();
  // Whether a TCP connection was made but no handshake ever succeeded on it, and no failure
  // waits to be returned by failure() (asking never loses one).
  bool connected_without_handshake();
  // Whether the peer's process answered: a handshake succeeded on the socket. Its ZeroMQ I/O
  // thread does the handshake whatever the rest of it is doing, so a busy agent answers and
  // a stopped (SIGSTOP) or dead one does not. (Watching for the connection to drop as well,
  // ZMQ_EVENT_DISCONNECTED, made libzmq 4.3.4 lose later CURVE handshakes of the context
  // now and then: Zap.ReloadAdmits... under load.)
  bool answering();

 private:
  // Applies the notifications waiting on events_; keeps the first failure not yet returned.
  void read_events();

  SocketMonitor monitor_;  // stopped before its end closes (bus/transport.hpp)
  bool connected_ = false;
  bool handshake_succeeded_ = false;
  std::uint32_t closed_in_handshake_ = 0;  // in a row, since the last handshake or failure
  std::optional<Failure> unreported_;
};

// The message a client prints for a failed handshake: always starts with "not authorized".
// `have_key`: whether the client presented a key; `agent`: HOST:PORT, for the message.
std::string describe_handshake_failure(const HandshakeWatch::Failure& failure, bool have_key,
                                       std::string_view agent);

}  // namespace mob
