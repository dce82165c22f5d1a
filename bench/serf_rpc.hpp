// A minimal client of Serf's agent RPC (msgpack over TCP: handshake, members), so the bench
// polls Serf as fast as it polls Mob. Blocking; one thread at a time; owns one TCP socket.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bus/error.hpp"

namespace mob::bench {

struct SerfMember {
  std::string name;
  std::string status;  // alive, leaving, left, failed
};

class SerfRpc {
 public:
  // Connects to a `serf agent -rpc-addr HOST:PORT` and performs the version 1 handshake.
  static Result<SerfRpc> connect(const std::string& host, int port,
                                 std::chrono::milliseconds timeout);

  SerfRpc(SerfRpc&&) noexcept;
  SerfRpc& operator=(SerfRpc&&) noexcept;
  ~SerfRpc();

  // Every member this agent knows, with its status. Any error leaves the client unusable:
  // connect again.
  Result<std::vector<SerfMember>> members();

 private:
  struct Connection;
  explicit SerfRpc(std::unique_ptr<Connection> connection);

  std::unique_ptr<Connection> connection_;
};

}  // namespace mob::bench
