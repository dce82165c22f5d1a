// The agent's metrics over HTTP (--metrics-addr HOST:PORT): GET /metrics answers the
// Prometheus text the store writes (agent/metrics.hpp). libevent's HTTP server runs its loop
// on one thread of this server's, which owns the listening socket, the connections and one
// end of an inproc pipe to the store: each scrape sends a MetricsRequest there and waits for
// the store's reply, so that thread never touches an actor's state. The library is loaded
// only by agents started with --metrics-addr (docs/performance.md, memory).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include <zmq.hpp>

#include "bus/error.hpp"

namespace mob {

struct MetricsAddress {
  std::string host;  // an IPv4 literal, or an IPv6 one without brackets
  int port = 0;
  std::string text() const;  // HOST:PORT, [HOST]:PORT for IPv6
};

// "HOST:PORT", "[IPv6]:PORT", ":PORT" or "PORT" (the last two: 127.0.0.1); "localhost" is
// 127.0.0.1. Errc::invalid_argument naming what is wrong and the accepted forms.
Result<MetricsAddress> parse_metrics_address(std::string_view text);

class MetricsServer {
 public:
  // Listens on `address` and serves from its own thread until destroyed; `store` is
  // that thread's end of the pipe to the store (which may start later: a scrape waits up to
  // 2 s for the answer, then gets 503). Errors name the address and the cause (the port is
  // taken, the library is missing).
  static Result<std::unique_ptr<MetricsServer>> start(const MetricsAddress& address, zmq::socket_t store);
  ~MetricsServer();  // stops serving and joins the thread
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  struct Library;
  struct Scrapes;

 private:
  MetricsServer() = default;
  std::shared_ptr<Library> library_;
  std::unique_ptr<Scrapes> scrapes_;  // what the HTTP thread uses: the pipe, the request ids
  std::thread thread_;                // runs libevent's loop
};

}  // namespace mob
