// The ZAP handler: decides which CURVE client keys may connect to this agent's sockets.
// An actor on its own thread; owns the ZAP socket (inproc://zeromq.zap.01) and the allow-list.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "agent/actor.hpp"
#include "bus/error.hpp"
#include "bus/security.hpp"

namespace mob {

// Logs refusals without letting a stranger flood the log: each source (a key and an
// address) is logged once per `window`, and at most `lines_per_window` refusal lines are
// written per window in all. Pure: the caller passes the time.
class RefusalLimiter {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  struct Decision {
    bool log = false;
    std::uint64_t repeats = 0;     // this source's refusals not logged since its last line
    std::uint64_t suppressed = 0;  // other sources' refusals not logged (budget spent)
  };

  explicit RefusalLimiter(std::chrono::milliseconds window = std::chrono::minutes(1),
                          std::uint32_t lines_per_window = 20, std::size_t max_sources = 4096);

  Decision refused(const std::string& source, TimePoint now);

 private:
  struct Source {
    TimePoint logged_at;
    std::uint64_t repeats = 0;
  };
  std::chrono::milliseconds window_;
  std::uint32_t lines_per_window_;
  std::size_t max_sources_;
  std::map<std::string, Source> sources_;
  TimePoint budget_started_{};
  std::uint32_t lines_in_budget_ = 0;
  std::uint64_t suppressed_ = 0;
};

struct ZapConfig {
  std::string network_public_key;              // the agents' own key: always allowed
  std::filesystem::path authorized_keys_file;  // operators' keys; empty: none
};

// A server socket whose refused handshakes the handler logs too: those that never reach
// ZAP (a client without CURVE, or with the wrong server key), seen through a socket monitor.
struct WatchedSocket {
  zmq::socket_t* socket;
  std::string what;  // "requests", "gossip and events"
};

class ZapHandler {
 public:
  // Loads the allow-list, binds the ZAP endpoint in `context`, attaches a monitor to each
  // watched socket and starts the thread; returns once it runs. REQUIRED: called on the
  // thread that owns the watched sockets, before any of them binds, and at most once per
  // context. Errors name the authorized keys file and line.
  static Result<std::unique_ptr<ZapHandler>> start(zmq::context_t& context, ZapConfig config,
                                                   const std::vector<WatchedSocket>& watched);

  // Asks the handler to read the authorized keys file again (on SIGHUP). Returns at once;
  // the handler logs the outcome and keeps the old list when the file does not parse.
  void reload();

  // Stops and joins the thread. Call only after every watched socket is closed.
  ~ZapHandler();
  ZapHandler(const ZapHandler&) = delete;
  ZapHandler& operator=(const ZapHandler&) = delete;

 private:
  ZapHandler() = default;
  zmq::socket_t control_;  // the main thread's end of the command pipe
  std::unique_ptr<Actor> actor_;
};

}  // namespace mob
