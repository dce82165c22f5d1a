#include "providers/docker/docker_client.hpp"

#include <curl/curl.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <map>
#include <memory>
#include <utility>

#include <nlohmann/json.hpp>

namespace mob::docker {
namespace {

using namespace std::chrono_literals;

constexpr auto kConnectTimeout = 5s;
constexpr std::size_t kMaxResponseBytes = 16 * 1024 * 1024;

void init_curl_once() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// A response body being received; its address is handed to libcurl.
struct BodySink {
  CURL* easy = nullptr;
  bool keep_tail = false;
  std::string body;
  const std::function<bool(std::string_view)>* stream = nullptr;  // 2xx bodies go there
  bool stopped_early = false;
  bool too_large = false;
};

bool is_success(CURL* easy) {
  long status = 0;
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
  return status >= 200 && status < 300;
}

size_t on_body(char* data, size_t size, size_t count, void* user) {
  auto* sink = static_cast<BodySink*>(user);
  const std::size_t bytes = size * count;
  if (sink->stream != nullptr && is_success(sink->easy)) {
    if (!(*sink->stream)(std::string_view(data, bytes))) {
      sink->stopped_early = true;
      return 0;  // aborts the transfer with CURLE_WRITE_ERROR
    }
    return bytes;
  }
  if (sink->body.size() + bytes > kMaxResponseBytes) {
    if (!sink->keep_tail) {
      sink->too_large = true;
      return 0;
    }
    sink->body.erase(0, std::min(sink->body.size(), bytes));
  }
  sink->body.append(data, bytes);
  return bytes;
}

// Sets up `easy` for `request`; the returned header list must outlive the transfer.
curl_slist* prepare(CURL* easy, const std::string& socket_path, const HttpRequest& request,
                    BodySink* sink) {
  sink->easy = easy;
  sink->keep_tail = request.keep_tail;
  curl_easy_setopt(easy, CURLOPT_UNIX_SOCKET_PATH, socket_path.c_str());
  const std::string url = "http://docker" + std::string(kApiPrefix) + request.path;
  curl_easy_setopt(easy, CURLOPT_URL, url.c_str());  // libcurl copies strings
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(kConnectTimeout.count() * 1000));
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, static_cast<long>(request.timeout.count()));
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, sink);
  curl_slist* headers = curl_slist_append(nullptr, "Expect:");
  switch (request.method) {
    case Method::get:
      curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
      break;
    case Method::post:
      curl_easy_setopt(easy, CURLOPT_POST, 1L);
      curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, static_cast<long>(request.json_body.size()));
      curl_easy_setopt(easy, CURLOPT_COPYPOSTFIELDS, request.json_body.c_str());
      if (!request.json_body.empty())
        headers = curl_slist_append(headers, "Content-Type: application/json");
      break;
    case Method::del:
      curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, "DELETE");
      break;
  }
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
  return headers;
}

Error transport_error(CURLcode code, const std::string& socket_path, const HttpRequest& request,
                      const BodySink& sink) {
  if (sink.too_large)
    return Error{Errc::too_large, "the engine's answer to " + request.path + " exceeds " +
                                      std::to_string(kMaxResponseBytes) + " bytes"};
  if (code == CURLE_OPERATION_TIMEDOUT)
    return Error{Errc::timeout, "the container engine at unix://" + socket_path +
                                    " did not answer " + request.path + " within " +
                                    std::to_string(request.timeout.count()) + " ms"};
  return Error{Errc::unavailable, "no container engine answers at unix://" + socket_path + ": " +
                                      curl_easy_strerror(code)};
}

}  // namespace

Result<std::string> engine_socket_from_docker_host(std::string_view docker_host) {
  if (docker_host.empty()) return std::string(kDefaultSocket);
  constexpr std::string_view scheme = "unix://";
  if (!docker_host.starts_with(scheme) || docker_host.size() == scheme.size())
    return fail(Errc::invalid_argument,
                "DOCKER_HOST=" + std::string(docker_host) +
                    " is not supported: the docker provider speaks to a Unix socket "
                    "(DOCKER_HOST=unix:///path/to/engine.sock)");
  return std::string(docker_host.substr(scheme.size()));
}

std::string url_encode(std::string_view text) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                       (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' || c == '~';
    if (plain) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 0xF];
    }
  }
  return out;
}

std::string engine_message(const HttpResponse& response) {
  auto parsed = nlohmann::json::parse(response.body, nullptr, false);
  if (parsed.is_object()) {
    auto message = parsed.find("message");
    if (message != parsed.end() && message->is_string()) return message->get<std::string>();
  }
  std::string text = response.body;
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' '))
    text.pop_back();
  if (text.empty()) return "HTTP status " + std::to_string(response.status);
  return text;
}

// ---- EngineClient ----------------------------------------------------------------------

EngineClient::EngineClient(std::string socket_path) : socket_path_(std::move(socket_path)) {
  init_curl_once();
  easy_ = curl_easy_init();
}

EngineClient::~EngineClient() {
  if (easy_ != nullptr) curl_easy_cleanup(static_cast<CURL*>(easy_));
}

Result<HttpResponse> EngineClient::send(const HttpRequest& request) {
  if (easy_ == nullptr) return fail(Errc::internal, "libcurl could not be initialized");
  auto* easy = static_cast<CURL*>(easy_);
  curl_easy_reset(easy);
  BodySink sink;
  curl_slist* headers = prepare(easy, socket_path_, request, &sink);
  CURLcode code = curl_easy_perform(easy);
  curl_slist_free_all(headers);
  if (code != CURLE_OK) return std::unexpected(transport_error(code, socket_path_, request, sink));
  HttpResponse response;
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &response.status);
  response.body = std::move(sink.body);
  return response;
}

Result<HttpResponse> EngineClient::stream(const HttpRequest& request,
                                  const std::function<bool(std::string_view)>& consume) {
  if (easy_ == nullptr) return fail(Errc::internal, "libcurl could not be initialized");
  auto* easy = static_cast<CURL*>(easy_);
  curl_easy_reset(easy);
  BodySink sink;
  sink.stream = &consume;
  curl_slist* headers = prepare(easy, socket_path_, request, &sink);
  CURLcode code = curl_easy_perform(easy);
  curl_slist_free_all(headers);
  if (code != CURLE_OK && !(code == CURLE_WRITE_ERROR && sink.stopped_early))
    return std::unexpected(transport_error(code, socket_path_, request, sink));
  HttpResponse response;
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &response.status);
  response.body = std::move(sink.body);
  return response;
}

// ---- EngineTransport -------------------------------------------------------------------

EngineTransport::EngineTransport(std::string socket_path) : socket_path_(std::move(socket_path)) {
  init_curl_once();
  ready_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  multi_ = curl_multi_init();
  thread_ = std::jthread([this](const std::stop_token& stop) { run(stop); });
}

EngineTransport::~EngineTransport() {
  thread_.request_stop();
  if (multi_ != nullptr) curl_multi_wakeup(static_cast<CURLM*>(multi_));
  if (thread_.joinable()) thread_.join();
  if (multi_ != nullptr) curl_multi_cleanup(static_cast<CURLM*>(multi_));
  if (ready_fd_ >= 0) close(ready_fd_);
}

void EngineTransport::submit(std::uint64_t token, HttpRequest request) {
  {
    std::lock_guard lock(mutex_);
    inbox_.push_back(Submitted{token, std::move(request)});
  }
  if (multi_ != nullptr) curl_multi_wakeup(static_cast<CURLM*>(multi_));
}

std::vector<Completion> EngineTransport::take_completions() {
  std::uint64_t ignored = 0;
  // Reset the fd before draining: a completion pushed after the drain makes it readable again.
  [[maybe_unused]] auto got = read(ready_fd_, &ignored, sizeof ignored);
  std::vector<Completion> out;
  {
    std::lock_guard lock(mutex_);
    out.assign(std::make_move_iterator(outbox_.begin()), std::make_move_iterator(outbox_.end()));
    outbox_.clear();
  }
  return out;
}

void EngineTransport::run(const std::stop_token& stop) {
  struct InFlight {
    std::uint64_t token = 0;
    HttpRequest request;
    CURL* easy = nullptr;
    curl_slist* headers = nullptr;
    BodySink sink;
  };
  auto* multi = static_cast<CURLM*>(multi_);
  std::map<CURL*, std::unique_ptr<InFlight>> in_flight;

  auto complete = [&](Completion completion) {
    {
      std::lock_guard lock(mutex_);
      outbox_.push_back(std::move(completion));
    }
    const std::uint64_t one = 1;
    [[maybe_unused]] auto written = write(ready_fd_, &one, sizeof one);
  };
  auto release = [&](InFlight& flight) {
    curl_multi_remove_handle(multi, flight.easy);
    curl_easy_cleanup(flight.easy);
    curl_slist_free_all(flight.headers);
  };

  while (!stop.stop_requested()) {
    std::deque<Submitted> arrived;
    {
      std::lock_guard lock(mutex_);
      arrived.swap(inbox_);
    }
    for (auto& submitted : arrived) {
      auto flight = std::make_unique<InFlight>();
      flight->token = submitted.token;
      flight->request = std::move(submitted.request);
      flight->easy = curl_easy_init();
      if (flight->easy == nullptr || multi == nullptr) {
        if (flight->easy != nullptr) curl_easy_cleanup(flight->easy);
        complete({flight->token, fail(Errc::internal, "libcurl could not be initialized")});
        continue;
      }
      flight->headers = prepare(flight->easy, socket_path_, flight->request, &flight->sink);
      curl_multi_add_handle(multi, flight->easy);
      in_flight.emplace(flight->easy, std::move(flight));
    }
    if (multi == nullptr) break;

    int running = 0;
    curl_multi_perform(multi, &running);
    int left = 0;
    while (CURLMsg* message = curl_multi_info_read(multi, &left)) {
      if (message->msg != CURLMSG_DONE) continue;
      auto found = in_flight.find(message->easy_handle);
      if (found == in_flight.end()) continue;
      InFlight& flight = *found->second;
      const CURLcode code = message->data.result;  // read before the handle is removed
      Completion completion{flight.token, HttpResponse{}};
      if (code == CURLE_OK) {
        curl_easy_getinfo(flight.easy, CURLINFO_RESPONSE_CODE, &completion.response->status);
        completion.response->body = std::move(flight.sink.body);
      } else {
        completion.response =
            std::unexpected(transport_error(code, socket_path_, flight.request, flight.sink));
      }
      release(flight);
      in_flight.erase(found);
      complete(std::move(completion));
    }
    curl_multi_poll(multi, nullptr, 0, 1000, nullptr);
  }
  for (auto& [easy, flight] : in_flight) release(*flight);
}

}  // namespace mob::docker
