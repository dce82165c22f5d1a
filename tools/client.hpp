// A blocking request/reply client of one Mob agent, for mob-tool and any program embedding Mob.
// Not thread-safe: use a Client from one thread at a time; it owns its ZeroMQ context and socket.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "bus/codec.hpp"
#include "bus/error.hpp"
#include "bus/messages.hpp"

namespace mob {

struct ClientOptions {
  // How long each call waits for the agent's reply before it gives up with Errc::unavailable.
  std::chrono::milliseconds timeout{3000};
  // Larger replies are dropped by ZeroMQ; the call then times out.
  std::size_t max_message_bytes = kDefaultMaxMessageBytes;
};

class Client {
 public:
  // `endpoint` is "HOST:PORT" ("tcp://HOST:PORT" and "[IPv6]:PORT" work too). Connecting is
  // lazy: a malformed endpoint is Errc::invalid_argument here, while an agent that is not
  // running shows up as Errc::unavailable on the first call.
  static Result<Client> connect(std::string endpoint, ClientOptions options = {});

  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;
  ~Client();

  // Each call sends one request and waits up to `options.timeout` for its reply. An
  // ErrorReply from the agent comes back as an Error with the agent's code and message.
  Result<PingReply> ping();
  // `spec_json` goes to the agent as is; the agent validates it.
  Result<DeployReply> deploy(std::string spec_json);
  // An empty `service` asks for every service.
  Result<StatusReply> status(std::string service = {});
  Result<ControlReply> control(std::string service, ControlAction action);
  Result<LogsReply> logs(const LogsRequest& request);
  Result<MembersReply> members();
  // Makes the agent join the network through these agents ("HOST:PORT").
  Result<JoinCommandReply> join(std::vector<std::string> seeds);
  // Makes the agent leave the network gracefully and exit.
  Result<LeaveReply> leave();

  // "HOST:PORT" as given to connect(), for messages.
  const std::string& endpoint() const;

 private:
  struct Connection;
  explicit Client(std::unique_ptr<Connection> connection);

  std::unique_ptr<Connection> connection_;
};

}  // namespace mob
