#include "agent/metrics_http.hpp"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

#include <microhttpd.h>

#include "agent/actor.hpp"
#include "bus/log.hpp"
#include "bus/transport.hpp"

namespace mob {

// libmicrohttpd's functions, looked up in the library loaded at start (never linked).
struct MetricsServer::Library {
  void* handle = nullptr;
  decltype(&::MHD_start_daemon) start_daemon = nullptr;
  decltype(&::MHD_stop_daemon) stop_daemon = nullptr;
  decltype(&::MHD_create_response_from_buffer) create_response = nullptr;
  decltype(&::MHD_add_response_header) add_header = nullptr;
  decltype(&::MHD_queue_response) queue_response = nullptr;
  decltype(&::MHD_destroy_response) destroy_response = nullptr;
  ~Library() {
    if (handle) ::dlclose(handle);
  }
};

// The HTTP thread's own: its end of the pipe to the store and the last request id.
struct MetricsServer::Scrapes {
  std::shared_ptr<Library> library;
  zmq::socket_t store;
  std::uint64_t last_id = 0;
};

namespace {

constexpr std::string_view kLog = "metrics";
constexpr const char* kLibrary = "libmicrohttpd.so.12";
constexpr auto kStoreAnswerLimit = std::chrono::seconds(2);
constexpr std::string_view kForms = "HOST:PORT (e.g. 127.0.0.1:9100), [IPv6]:PORT, :PORT or PORT (on 127.0.0.1)";

Result<std::shared_ptr<MetricsServer::Library>> load_library() {
  auto library = std::make_shared<MetricsServer::Library>();
  library->handle = ::dlopen(kLibrary, RTLD_NOW | RTLD_LOCAL);
  if (!library->handle)
    return fail(Errc::unavailable, std::string("--metrics-addr needs ") + kLibrary + ": " + ::dlerror() +
                                       " (install the package libmicrohttpd12)");
  auto find = [&](const char* name) { return ::dlsym(library->handle, name); };
  library->start_daemon = reinterpret_cast<decltype(library->start_daemon)>(find("MHD_start_daemon"));
  library->stop_daemon = reinterpret_cast<decltype(library->stop_daemon)>(find("MHD_stop_daemon"));
  library->create_response =
      reinterpret_cast<decltype(library->create_response)>(find("MHD_create_response_from_buffer"));
  library->add_header = reinterpret_cast<decltype(library->add_header)>(find("MHD_add_response_header"));
  library->queue_response = reinterpret_cast<decltype(library->queue_response)>(find("MHD_queue_response"));
  library->destroy_response = reinterpret_cast<decltype(library->destroy_response)>(find("MHD_destroy_response"));
  if (!library->start_daemon || !library->stop_daemon || !library->create_response || !library->add_header ||
      !library->queue_response || !library->destroy_response)
    return fail(Errc::unavailable, std::string(kLibrary) + " lacks a function mob-agent needs: install libmicrohttpd12");
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
  int fd = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
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

MHD_Result answer(MetricsServer::Scrapes& scrapes, MHD_Connection* connection, unsigned int status,
                  const std::string& body, const char* content_type) {
  const MetricsServer::Library& library = *scrapes.library;
  MHD_Response* response = library.create_response(body.size(), const_cast<char*>(body.data()),
                                                   MHD_RESPMEM_MUST_COPY);
  if (!response) return MHD_NO;
  library.add_header(response, "Content-Type", content_type);
  MHD_Result queued = library.queue_response(connection, status, response);
  library.destroy_response(response);
  return queued;
}

// libmicrohttpd's request handler, on its thread.
MHD_Result handle(void* context, MHD_Connection* connection, const char* url, const char* method,
                  const char*, const char*, std::size_t* upload_size, void** request_state) {
  auto& scrapes = *static_cast<MetricsServer::Scrapes*>(context);
  // The first call for a request only announces it (headers read); the answer comes after.
  if (*request_state == nullptr) {
    *request_state = connection;  // any mark: this request was announced
    return MHD_YES;
  }
  if (*upload_size != 0) {
    *upload_size = 0;  // a body is read and ignored
    return MHD_YES;
  }
  constexpr const char* kText = "text/plain; charset=utf-8";
  if (std::strcmp(method, "GET") != 0 && std::strcmp(method, "HEAD") != 0)
    return answer(scrapes, connection, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET /metrics is served\n", kText);
  if (std::strcmp(url, "/metrics") != 0)
    return answer(scrapes, connection, MHD_HTTP_NOT_FOUND, "not found: the metrics are at /metrics\n", kText);
  auto text = ask_store(scrapes);
  if (!text)
    return answer(scrapes, connection, MHD_HTTP_SERVICE_UNAVAILABLE,
                  "the agent's store did not answer within 2 s: try again\n", kText);
  return answer(scrapes, connection, MHD_HTTP_OK, *text, "text/plain; version=0.0.4; charset=utf-8");
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
  std::unique_ptr<MetricsServer> server(new MetricsServer());
  server->library_ = *library;
  server->scrapes_ = std::make_unique<Scrapes>(Scrapes{*library, std::move(store), 0});
  // One thread polls every connection and runs the handler: the pipe has one owner.
  server->daemon_ = (*library)->start_daemon(
      MHD_USE_POLL_INTERNAL_THREAD, 0, nullptr, nullptr, &handle, server->scrapes_.get(), MHD_OPTION_LISTEN_SOCKET,
      *listening, MHD_OPTION_CONNECTION_LIMIT, 16u, MHD_OPTION_CONNECTION_TIMEOUT, 10u,
      MHD_OPTION_THREAD_STACK_SIZE, static_cast<std::size_t>(256 * 1024), MHD_OPTION_END);
  if (!server->daemon_) {
    ::close(*listening);
    return fail(Errc::io, "--metrics-addr " + address.text() + ": libmicrohttpd did not start");
  }
  log::info(kLog, "metrics on http://", address.text(), "/metrics");
  return server;
}

MetricsServer::~MetricsServer() {
  if (daemon_) library_->stop_daemon(static_cast<MHD_Daemon*>(daemon_));  // joins its thread, closes the socket
}

}  // namespace mob
