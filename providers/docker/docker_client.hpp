// Internal to the docker provider (tests include it too): HTTP/1.1 to the Docker Engine API
// over a Unix socket with libcurl. EngineClient is synchronous and belongs to one thread;
// EngineTransport runs requests on its own thread and hands completions back via an fd.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "bus/error.hpp"

namespace mob::docker {

inline constexpr std::string_view kApiPrefix = "/v1.41";
inline constexpr std::string_view kDefaultSocket = "/var/run/docker.sock";

// Where the engine listens, from a DOCKER_HOST value ("" means the default socket).
// Only unix:// endpoints are supported; anything else is an invalid_argument error.
Result<std::string> engine_socket_from_docker_host(std::string_view docker_host);
// Percent-encodes a query value.
std::string url_encode(std::string_view text);

enum class Method : std::uint8_t { get, post, del };

struct HttpRequest {
  Method method = Method::get;
  std::string path{};  // below the API prefix, with its query: "/containers/json?all=1"
  std::string json_body{};  // sent with Content-Type: application/json when not empty
  std::chrono::milliseconds timeout{10'000};  // whole request; 0: no limit (long waits)
  // Past the size limit, keep the body's end instead of failing (progress streams).
  bool keep_tail = false;
};

struct HttpResponse {
  long status = 0;
  std::string body;
};

// The engine's own words for a failed request: the JSON "message" field, else the body.
std::string engine_message(const HttpResponse& response);

// Synchronous requests on the calling thread; keeps its connection between requests.
// Not thread-safe: one owner.
class EngineClient {
 public:
  explicit EngineClient(std::string socket_path);
  ~EngineClient();
  EngineClient(const EngineClient&) = delete;
  EngineClient& operator=(const EngineClient&) = delete;

  // Any HTTP status is a response; errors are transport failures (no engine, timeout).
  Result<HttpResponse> send(const HttpRequest& request);
  // Streams a 2xx body to `sink`, which returns false to stop reading early (not an
  // error); the response then has an empty body. Other statuses keep their body.
  Result<HttpResponse> stream(const HttpRequest& request,
                              const std::function<bool(std::string_view)>& sink);

  const std::string& socket_path() const { return socket_path_; }

 private:
  std::string socket_path_;
  void* easy_ = nullptr;  // CURL*
};

struct Completion {
  std::uint64_t token = 0;
  Result<HttpResponse> response;
};

// Runs requests concurrently on one helper thread (curl multi), so long waits
// (POST /containers/{id}/wait, a stop's grace period) never block the provider's worker.
// submit() and take_completions() may be called from any one other thread; the helper
// thread shares only the two queues (under a mutex) with it. The destructor abandons
// requests in flight and joins the thread.
class EngineTransport {
 public:
  explicit EngineTransport(std::string socket_path);
  ~EngineTransport();
  EngineTransport(const EngineTransport&) = delete;
  EngineTransport& operator=(const EngineTransport&) = delete;

  void submit(std::uint64_t token, HttpRequest request);
  // Readable while completions wait to be taken.
  int ready_fd() const { return ready_fd_; }
  std::vector<Completion> take_completions();

 private:
  struct Submitted {
    std::uint64_t token;
    HttpRequest request;
  };
  void run(const std::stop_token& stop);

  std::string socket_path_;
  int ready_fd_ = -1;  // eventfd
  void* multi_ = nullptr;  // CURLM*, used by the helper thread (wakeup from any thread)
  std::mutex mutex_;
  std::deque<Submitted> inbox_;     // guarded by mutex_
  std::deque<Completion> outbox_;   // guarded by mutex_
  std::jthread thread_;  // last: started after, and joined before, everything above
};

}  // namespace mob::docker
