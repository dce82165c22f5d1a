#include "agent/metrics_http.hpp"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <thread>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include "agent/actor.hpp"
#include "bus/log.hpp"
#include "bus/transport.hpp"

namespace mob {

// libevent's functions, looked up in the library loaded at start (never linked).
struct MetricsServer::Library {
  void* handle = nullptr;
  decltype(&::event_base_new) base_new = nullptr;
  decltype(&::event_base_free) base_free = nullptr;
  decltype(&::event_base_dispatch) dispatch = nullptr;
  decltype(&::event_base_loopbreak) loopbreak = nullptr;
  decltype(&::event_new) event_new = nullptr;
  decltype(&::event_add) event_add = nullptr;
  decltype(&::event_free) event_free = nullptr;
  decltype(&::evhttp_new) http_new = nullptr;
  decltype(&::evhttp_free) http_free = nullptr;
  decltype(&::evhttp_accept_socket) accept_socket = nullptr;
  decltype(&::evhttp_set_gencb) set_gencb = nullptr;
  decltype(&::evhttp_set_timeout) set_timeout = nullptr;
  decltype(&::evhttp_set_allowed_methods) set_allowed_methods = nullptr;
  decltype(&::evhttp_request_get_uri) request_uri = nullptr;
  decltype(&::evhttp_request_get_output_headers) output_headers = nullptr;
  decltype(&::evhttp_add_header) add_header = nullptr;
  decltype(&::evhttp_send_reply) send_reply = nullptr;
  decltype(&::evbuffer_new) buffer_new = nullptr;
  decltype(&::evbuffer_free) buffer_free = nullptr;
  decltype(&::evbuffer_add) buffer_add = nullptr;
  ~Library() {
    if (handle) ::dlclose(handle);
  }
};

// The HTTP thread's own: its end of the pipe to the store, the last request id, and its
// event loop (the listening socket's, the connections' and the stop eventfd's events).
struct MetricsServer::Scrapes {
  std::shared_ptr<Library> library;
  zmq::socket_t store;
  std::uint64_t last_id = 0;
  event_base* base = nullptr;
  evhttp* http = nullptr;
  event* stop_event = nullptr;
  int stop_fd = -1;
};

namespace {

constexpr std::string_view kMetricsLog = "metrics";
constexpr const char* kLibrary = "libevent-2.1.so.7";
constexpr auto kStoreAnswerLimit = std::chrono::seconds(2);
constexpr std::string_view kForms = "HOST:PORT (e.g. 127.0.0.1:9100), [IPv6]:PORT, :PORT or PORT (on 127.0.0.1)";

Result<std::shared_ptr<MetricsServer::Library>> load_library() {
  auto library = std::make_shared<MetricsServer::Library>();
  library->handle = ::dlopen(kLibrary, RTLD_NOW | RTLD_LOCAL);
  if (!library->handle)
    return fail(Errc::unavailable, std::string("--metrics-addr needs ") + kLibrary + ": " + ::dlerror() +
                                       " (install the package libevent-2.1-7)");
  bool found = true;
  auto find = [&](auto& function, const char* name) {
    function = reinterpret_cast<std::remove_reference_t<decltype(function)>>(::dlsym(library->handle, name));
    found = found && function != nullptr;
  };
  find(library->base_new, "event_base_new");
  find(library->base_free, "event_base_free");
  find(library->dispatch, "event_base_dispatch");
  find(library->loopbreak, "event_base_loopbreak");
  find(library->event_new, "event_new");
  find(library->event_add, "event_add");
  find(library->event_free, "event_free");
  find(library->http_new, "evhttp_new");
  find(library->http_free, "evhttp_free");
  find(library->accept_socket, "evhttp_accept_socket");
  find(library->set_gencb, "evhttp_set_gencb");
  find(library->set_timeout, "evhttp_set_timeout");
  find(library->set_allowed_methods, "evhttp_set_allowed_methods");
  find(library->request_uri, "evhttp_request_get_uri");
  find(library->output_headers, "evhttp_request_get_output_headers");
  find(library->add_header, "evhttp_add_header");
  find(library->send_reply, "evhttp_send_reply");
  find(library->buffer_new, "evbuffer_new");
  find(library->buffer_free, "evbuffer_free");
  find(library->buffer_add, "evbuffer_add");
  if (!found) return fail(Errc::unavailable, std::string(kLibrary) + " lacks a function mob-agent needs: install libevent-2.1-7");
  return library;
}

// A bound, listening socket; its own errors name the address.
Result<int> listen_on(const MetricsAddress& address) {
  sockaddr_storage storage{};
  socklen_t length = 0;
  const bool v6 = address.host.find(':') != std::string::npos;
  if (v6) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&storage);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(static_cast<std::uint16_t>(address.port));
    ::inet_pton(AF_INET6, address.host.c_str(), &in6->sin6_addr);
    length = sizeof *in6;
  } else {
    auto* in4 = reinterpret_cast<sockaddr_in*>(&storage);
    in4->sin_family = AF_INET;
    in4->sin_port = htons(static_cast<std::uint16_t>(address.port));
    ::inet_pton(AF_INET, address.host.c_str(), &in4->sin_addr);
    length = sizeof *in4;
  }
  int fd = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return fail(Errc::io, "--metrics-addr " + address.text() + ": cannot make a socket: " + std::strerror(errno));
  int on = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&storage), length) != 0 || ::listen(fd, 16) != 0) {
    int error = errno;
    ::close(fd);
    std::string hint = error == EADDRINUSE      ? " (another program listens there: choose another port)"
                       : error == EADDRNOTAVAIL ? " (no interface of this machine has that address)"
                       : error == EACCES        ? " (a port below 1024 needs privileges)"
                                                : "";
    return fail(Errc::io, "--metrics-addr " + address.text() + ": cannot listen: " + std::strerror(error) + hint);
  }
  return fd;
}

// Asks the store for its metrics; nullopt when it does not answer in time.
std::optional<std::string> ask_store(MetricsServer::Scrapes& scrapes) {
  const std::uint64_t id = ++scrapes.last_id;
  if (!send_body(scrapes.store, MetricsRequest{}, {}, id)) return std::nullopt;
  const auto deadline = std::chrono::steady_clock::now() + kStoreAnswerLimit;
  while (true) {
    while (auto message = receive_routed(scrapes.store)) {
      const auto* reply = std::get_if<MetricsReply>(&message->envelope.body);
      if (reply && message->envelope.request_id == id) return reply->text;  // older ones are late answers
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return std::nullopt;
    zmq::pollitem_t item{scrapes.store.handle(), 0, ZMQ_POLLIN, 0};
    poll_sockets(&item, 1, std::chrono::ceil<std::chrono::milliseconds>(deadline - now));
  }
}

void answer(MetricsServer::Scrapes& scrapes, evhttp_request* request, int status, const char* reason,
            const std::string& body, const char* content_type) {
  const MetricsServer::Library& library = *scrapes.library;
  library.add_header(library.output_headers(request), "Content-Type", content_type);
  evbuffer* buffer = library.buffer_new();
  if (buffer) library.buffer_add(buffer, body.data(), body.size());
  library.send_reply(request, status, reason, buffer);
  if (buffer) library.buffer_free(buffer);
}

// libevent's request callback, on the HTTP thread (GET and HEAD only: libevent answers the
// other methods 405 itself).
void handle(evhttp_request* request, void* context) {
  auto& scrapes = *static_cast<MetricsServer::Scrapes*>(context);
  constexpr const char* kText = "text/plain; charset=utf-8";
  std::string_view uri = scrapes.library->request_uri(request);
  if (uri.substr(0, uri.find('?')) != "/metrics")
    return answer(scrapes, request, 404, "Not Found", "not found: the metrics are at /metrics\n", kText);
  auto text = ask_store(scrapes);
  if (!text)
    return answer(scrapes, request, 503, "Service Unavailable",
                  "the agent's store did not answer within 2 s: try again\n", kText);
  answer(scrapes, request, 200, "OK", *text, "text/plain; version=0.0.4; charset=utf-8");
}

// The stop eventfd was written: the loop ends, on its own thread.
void stop_loop(evutil_socket_t, short, void* context) {
  auto& scrapes = *static_cast<MetricsServer::Scrapes*>(context);
  scrapes.library->loopbreak(scrapes.base);
}

bool is_ipv4(const std::string& host) {
  in_addr ignored{};
  return ::inet_pton(AF_INET, host.c_str(), &ignored) == 1;
}
bool is_ipv6(const std::string& host) {
  in6_addr ignored{};
  return ::inet_pton(AF_INET6, host.c_str(), &ignored) == 1;
}

}  // namespace

std::string MetricsAddress::text() const {
  return (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

Result<MetricsAddress> parse_metrics_address(std::string_view text) {
  auto refuse = [&](const std::string& why) {
    return fail(Errc::invalid_argument, "--metrics-addr \"" + std::string(text) + "\": " + why + "; expected " +
                                            std::string(kForms));
  };
  std::string host = "127.0.0.1";
  std::string_view port_text = text;
  if (auto colon = text.rfind(':'); colon != std::string_view::npos) {
    std::string_view host_text = text.substr(0, colon);
    port_text = text.substr(colon + 1);
    if (host_text.size() >= 2 && host_text.front() == '[' && host_text.back() == ']') {
      host = std::string(host_text.substr(1, host_text.size() - 2));
      if (!is_ipv6(host)) return refuse("\"" + host + "\" is not an IPv6 address");
    } else if (!host_text.empty()) {
      host = host_text == "localhost" ? "127.0.0.1" : std::string(host_text);
      if (!is_ipv4(host))
        return refuse("\"" + host + "\" is not an IPv4 address (a name other than localhost is not looked up; an IPv6 address goes in brackets)");
    }
  }
  int port = 0;
  auto [end, error] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || error != std::errc{} || end != port_text.data() + port_text.size() || port < 1 ||
      port > 65535)
    return refuse("the port must be a number from 1 to 65535");
  return MetricsAddress{host, port};
}

Result<std::unique_ptr<MetricsServer>> MetricsServer::start(const MetricsAddress& address, zmq::socket_t store) {
  auto library = load_library();
  if (!library) return std::unexpected(library.error());
  auto listening = listen_on(address);
  if (!listening) return std::unexpected(listening.error());
  const Library& lib = **library;
  std::unique_ptr<MetricsServer> server(new MetricsServer());
  server->library_ = *library;
  server->scrapes_ = std::make_unique<Scrapes>(Scrapes{*library, std::move(store), 0, nullptr, nullptr, nullptr, -1});
  Scrapes& scrapes = *server->scrapes_;
  scrapes.stop_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  scrapes.base = lib.base_new();
  scrapes.http = scrapes.base ? lib.http_new(scrapes.base) : nullptr;
  scrapes.stop_event = scrapes.base && scrapes.stop_fd >= 0
                           ? lib.event_new(scrapes.base, scrapes.stop_fd, EV_READ | EV_PERSIST, &stop_loop, &scrapes)
                           : nullptr;
  if (!scrapes.http || !scrapes.stop_event || lib.event_add(scrapes.stop_event, nullptr) != 0 ||
      lib.accept_socket(scrapes.http, *listening) != 0) {
    ::close(*listening);
    return fail(Errc::io, "--metrics-addr " + address.text() + ": libevent did not start");
  }
  lib.set_allowed_methods(scrapes.http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
  lib.set_timeout(scrapes.http, 10);
  lib.set_gencb(scrapes.http, &handle, &scrapes);
  // One thread runs the loop and every handler: the pipe to the store has one owner.
  server->thread_ = std::thread([&scrapes] { scrapes.library->dispatch(scrapes.base); });
  log::info(kMetricsLog, "metrics on http://", address.text(), "/metrics");
  return server;
}

MetricsServer::~MetricsServer() {
  if (!scrapes_) return;
  Scrapes& scrapes = *scrapes_;
  if (thread_.joinable()) {
    std::uint64_t one = 1;
    [[maybe_unused]] auto written = ::write(scrapes.stop_fd, &one, sizeof one);
    thread_.join();
  }
  // evhttp_free closes the listening socket and the connections.
  if (scrapes.http) library_->http_free(scrapes.http);
  if (scrapes.stop_event) library_->event_free(scrapes.stop_event);
  if (scrapes.base) library_->base_free(scrapes.base);
  if (scrapes.stop_fd >= 0) ::close(scrapes.stop_fd);
}

}  // namespace mob
