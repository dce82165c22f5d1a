#include "bus/security.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <sstream>
#include <utility>

#include "bus/transport.hpp"

namespace mob {
namespace {

constexpr std::size_t kZ85KeyLength = 40;
constexpr std::size_t kBinaryKeyLength = 32;
constexpr std::string_view kZapDomain = "mob";

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r'))
    text.remove_suffix(1);
  return text;
}

// Calls `line(number, text)` for each line of `text`, numbered from 1, without its newline.
template <class Function>
Result<void> for_each_line(std::string_view text, Function line) {
  std::size_t number = 0;
  while (!text.empty()) {
    ++number;
    auto end = text.find('\n');
    auto current = text.substr(0, end);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    if (auto ok = line(number, trim(current)); !ok) return ok;
  }
  return {};
}

std::string binary_of(std::string_view z85_key) {
  std::string text(z85_key);
  std::string binary(kBinaryKeyLength, '\0');
  if (z85_key.size() != kZ85KeyLength ||
      zmq_z85_decode(reinterpret_cast<std::uint8_t*>(binary.data()), text.c_str()) == nullptr)
    return {};
  return binary;
}

std::string shown(std::string_view text) {
  constexpr std::size_t kMaxShown = 48;
  std::string out(text.substr(0, kMaxShown));
  if (text.size() > kMaxShown) out += "...";
  return "\"" + out + "\"";
}

Result<std::string> read_file(const std::filesystem::path& path, const char* what) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return fail(Errc::io, std::string("cannot read ") + what + " " + path.string() + ": " +
                              std::strerror(errno));
  std::string content;
  char buffer[4096];
  constexpr std::size_t kMaxKeyFileBytes = 1 << 20;
  while (content.size() <= kMaxKeyFileBytes) {
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    content.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  if (content.size() > kMaxKeyFileBytes)
    return fail(Errc::too_large, std::string(what) + " " + path.string() + " is larger than 1 MiB");
  return content;
}

Result<void> write_new_file(const std::filesystem::path& path, const std::string& content) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0)
    return fail(errno == EEXIST ? Errc::conflict : Errc::io,
                "cannot create " + path.string() + ": " + std::strerror(errno));
  bool ok = ::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size());
  ok = ::fsync(fd) == 0 && ok;
  ::close(fd);
  if (!ok) return fail(Errc::io, "cannot write " + path.string() + ": " + std::strerror(errno));
  return {};
}

}  // namespace

bool is_z85_key(std::string_view text) { return !binary_of(text).empty(); }

std::string z85_of(std::string_view binary_key) {
  if (binary_key.size() != kBinaryKeyLength) return {};
  char text[kZ85KeyLength + 1] = {};
  zmq_z85_encode(text, reinterpret_cast<const std::uint8_t*>(binary_key.data()), kBinaryKeyLength);
  return text;
}

Result<KeyPair> generate_key_pair() {
  char public_key[kZ85KeyLength + 1] = {};
  char secret_key[kZ85KeyLength + 1] = {};
  if (zmq_curve_keypair(public_key, secret_key) != 0)
    return fail(Errc::internal, std::string("cannot make a CURVE key pair: ") +
                                    zmq_strerror(zmq_errno()) +
                                    " (is libzmq built with CURVE support?)");
  return KeyPair{public_key, secret_key};
}

std::string format_key_file(const KeyPair& keys) {
  return "public=" + keys.public_key + "\nsecret=" + keys.secret_key + "\n";
}

Result<KeyPair> parse_key_file(std::string_view text) {
  KeyPair keys;
  auto parsed = for_each_line(text, [&](std::size_t number, std::string_view line) -> Result<void> {
    if (line.empty() || line.front() == '#') return {};
    auto at = [&](std::string why) {
      return fail(Errc::invalid_argument, "line " + std::to_string(number) + ": " + why);
    };
    auto equals = line.find('=');
    if (equals == std::string_view::npos)
      return at("expected public=KEY or secret=KEY, got " + shown(line));
    auto name = trim(line.substr(0, equals));
    auto value = trim(line.substr(equals + 1));
    std::string* slot = name == "public"   ? &keys.public_key
                        : name == "secret" ? &keys.secret_key
                                           : nullptr;
    if (slot == nullptr) return at("unknown entry " + shown(name) + " (expected public or secret)");
    if (!slot->empty()) return at("a second " + std::string(name) + " key");
    if (!is_z85_key(value))
      return at("the " + std::string(name) + " key is not a 40-character Z85 key");
    *slot = std::string(value);
    return {};
  });
  if (!parsed) return std::unexpected(parsed.error());
  if (keys.secret_key.empty())
    return fail(Errc::invalid_argument,
                "no secret=KEY line (make a key file with: mob-tool keygen)");
  char derived[kZ85KeyLength + 1] = {};
  if (zmq_curve_public(derived, keys.secret_key.c_str()) != 0)
    return fail(Errc::internal,
                "cannot derive the public key: " + std::string(zmq_strerror(zmq_errno())));
  if (keys.public_key.empty()) keys.public_key = derived;
  if (keys.public_key != derived)
    return fail(Errc::invalid_argument, "the public key does not belong to the secret key");
  return keys;
}

Result<KeyPair> load_key_file(const std::filesystem::path& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0)
    return fail(Errc::io, "cannot read key file " + path.string() + ": " + std::strerror(errno));
  if ((info.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(info.st_mode & 07777));
    return fail(Errc::invalid_argument, "key file " + path.string() +
                                            " may be read by other users (mode " + mode +
                                            "): run chmod 600 " + path.string());
  }
  auto text = read_file(path, "key file");
  if (!text) return std::unexpected(text.error());
  auto keys = parse_key_file(*text);
  if (!keys) return std::unexpected(keys.error().with_context("key file " + path.string()));
  return keys;
}

Result<std::string> load_public_key(std::string_view key_or_path) {
  if (is_z85_key(key_or_path)) return std::string(key_or_path);
  std::filesystem::path path(key_or_path);
  auto text = read_file(path, "public key file");
  if (!text) {
    if (key_or_path.size() == kZ85KeyLength && !std::filesystem::exists(path))
      return fail(Errc::invalid_argument, shown(key_or_path) + " is neither a Z85 key nor a file");
    return std::unexpected(text.error());
  }
  std::string key;
  auto parsed =
      for_each_line(*text, [&](std::size_t number, std::string_view line) -> Result<void> {
        if (line.empty() || (line.front() == '#' && !is_z85_key(line))) return {};
        if (line.starts_with("secret")) return {};
        if (line.starts_with("public")) line = trim(line.substr(line.find('=') + 1));
        if (!key.empty() || !is_z85_key(line))
          return fail(Errc::invalid_argument,
                      "public key file " + path.string() + " line " + std::to_string(number) +
                          ": expected one 40-character Z85 key (a mob.pub file)");
        key = std::string(line);
        return {};
      });
  if (!parsed) return std::unexpected(parsed.error());
  if (key.empty())
    return fail(Errc::invalid_argument, "public key file " + path.string() + " holds no key");
  return key;
}

Result<void> write_key_files(const std::filesystem::path& dir, const KeyPair& keys) {
  const auto secret_path = dir / "mob.key";
  const auto public_path = dir / "mob.pub";
  std::error_code error;
  if (!std::filesystem::exists(dir, error)) {
    std::filesystem::create_directories(dir, error);
    if (error)
      return fail(Errc::io, "cannot create directory " + dir.string() + ": " + error.message());
    ::chmod(dir.c_str(), 0700);
  }
  for (const auto& path : {secret_path, public_path})
    if (std::filesystem::exists(std::filesystem::symlink_status(path, error)))
      return fail(Errc::conflict, path.string() +
                                      " exists; keygen never overwrites a key: "
                                      "remove it first or choose another --out");
  if (auto ok = write_new_file(secret_path, format_key_file(keys)); !ok) return ok;
  return write_new_file(public_path, keys.public_key + "\n");
}

Result<AuthorizedKeys> AuthorizedKeys::parse(std::string_view text) {
  AuthorizedKeys keys;
  auto parsed = for_each_line(text, [&](std::size_t number, std::string_view line) -> Result<void> {
    // '#' is a Z85 character (though never a key's first): a comment is what follows the
    // key, or a line starting with '#'.
    auto key = line.substr(0, line.find_first_of(" \t"));
    if (key.empty() || (key.front() == '#' && !is_z85_key(key))) return {};
    if (!is_z85_key(key))
      return fail(Errc::invalid_argument, "line " + std::to_string(number) + ": " + shown(key) +
                                              " is not a 40-character Z85 public key");
    keys.allow(key);
    return {};
  });
  if (!parsed) return std::unexpected(parsed.error());
  return keys;
}

Result<AuthorizedKeys> AuthorizedKeys::load(const std::filesystem::path& path) {
  auto text = read_file(path, "authorized keys file");
  if (!text) return std::unexpected(text.error());
  auto keys = parse(*text);
  if (!keys)
    return std::unexpected(keys.error().with_context("authorized keys file " + path.string()));
  return keys;
}

void AuthorizedKeys::allow(std::string_view z85_key) { binary_keys_.insert(binary_of(z85_key)); }

bool AuthorizedKeys::allows_binary(std::string_view binary_key) const {
  return binary_key.size() == kBinaryKeyLength && binary_keys_.contains(std::string(binary_key));
}

bool AuthorizedKeys::allows(std::string_view z85_key) const {
  return allows_binary(binary_of(z85_key));
}

void make_curve_server(zmq::socket_t& socket, const KeyPair& keys) {
  socket.set(zmq::sockopt::zap_domain, std::string(kZapDomain));
  socket.set(zmq::sockopt::curve_server, true);
  socket.set(zmq::sockopt::curve_secretkey, keys.secret_key);
}

void make_curve_client(zmq::socket_t& socket, const ClientKeys& keys) {
  socket.set(zmq::sockopt::curve_serverkey, keys.server_public_key);
  socket.set(zmq::sockopt::curve_publickey, keys.own.public_key);
  socket.set(zmq::sockopt::curve_secretkey, keys.own.secret_key);
}

bool is_loopback_host(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  std::string text(host);
  in_addr v4{};
  if (::inet_pton(AF_INET, text.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (::inet_pton(AF_INET6, text.c_str(), &v6) == 1)
    return IN6_IS_ADDR_LOOPBACK(&v6) || (IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127);
  return false;
}

// HANDSHAKE_FAILED_NO_DETAIL: the peer closed the connection mid-handshake. A client without
// a key and a CURVE agent each see the mismatch in the other's greeting; when the agent sees
// it first (a loaded client), the client gets only this, and reconnects to the same end.
HandshakeWatch::HandshakeWatch(zmq::context_t& context, zmq::socket_t& socket)
    : monitor_(context, socket, "handshake-watch",
               ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                   ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_CONNECTED |
                   ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {}

zmq::pollitem_t HandshakeWatch::poll_item() { return monitor_.poll_item(); }

void HandshakeWatch::read_events() {
  while (auto event = recv_monitor_event(monitor_.events())) {
    if (event->event == ZMQ_EVENT_CONNECTED) connected_ = true;
    if (event->event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
      handshake_succeeded_ = true;
      closed_in_handshake_ = 0;
    }
    if (event->event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL && !unreported_ &&
        ++closed_in_handshake_ >= kClosedHandshakesToFail && !handshake_succeeded_) {
      unreported_ = Failure{Outcome::closed_in_handshake, closed_in_handshake_};
      closed_in_handshake_ = 0;
    }
    if (unreported_ || event->event == ZMQ_EVENT_CONNECTED ||
        event->event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED || event->event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)
      continue;
    if (event->event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
      unreported_ = Failure{Outcome::refused_key, event->value};
    else if (event->value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH)
      unreported_ = Failure{Outcome::mechanism_mismatch, event->value};
    else
      unreported_ = Failure{Outcome::protocol_error, event->value};
  }
}

std::optional<HandshakeWatch::Failure> HandshakeWatch::failure() {
  read_events();
  return std::exchange(unreported_, std::nullopt);
}

bool HandshakeWatch::answering() {
  read_events();
  return handshake_succeeded_;
}

bool HandshakeWatch::connected_without_handshake() {
  read_events();
  return !unreported_ && connected_ && !handshake_succeeded_;
}

std::string describe_handshake_failure(const HandshakeWatch::Failure& failure, bool have_key,
                                       std::string_view agent) {
  std::ostringstream text;
  text << "not authorized: ";
  switch (failure.outcome) {
    case HandshakeWatch::Outcome::refused_key:
      text << "the agent at " << agent << " refused this key (ZAP status " << failure.detail
           << "): add its public key to the agent's --authorized-keys file and send the agent "
              "SIGHUP, or use an authorized --key-file";
      break;
    case HandshakeWatch::Outcome::mechanism_mismatch:
      if (have_key)
        text << "the agent at " << agent
             << " runs without keys (no --key-file) while this client uses one";
      else
        text << "the agent at " << agent
             << " requires a key: give --key-file FILE (or set MOB_KEY_FILE) with a key "
                "listed in its --authorized-keys (see docs/security.md)";
      break;
    case HandshakeWatch::Outcome::protocol_error:
      text << "the CURVE handshake with the agent at " << agent << " failed (protocol error 0x"
           << std::hex << failure.detail << std::dec
           << "): check that --server-key is the network's public key";
      break;
    case HandshakeWatch::Outcome::closed_in_handshake:
      if (have_key)
        text << "the agent at " << agent << " closed the connection during the CURVE handshake "
             << failure.detail << " times in a row: check that --server-key is the network's "
                "public key (the agents' mob.pub) and that the agent runs with keys";
      else
        text << "the agent at " << agent << " closed the connection during the handshake "
             << failure.detail << " times in a row: it requires a key: give --key-file FILE (or "
                "set MOB_KEY_FILE) with a key listed in its --authorized-keys (see docs/security.md)";
      break;
    case HandshakeWatch::Outcome::unanswered:
      text << "the agent at " << agent
           << " took the connection but never completed the CURVE handshake: check that "
              "--server-key is the network's public key (the agents' mob.pub)";
      break;
  }
  return text.str();
}

}  // namespace mob
