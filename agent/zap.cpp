#include "agent/zap.hpp"

#include <sstream>

#include "agent/actor.hpp"
#include "agent/time_source.hpp"
#include "bus/log.hpp"
#include "bus/transport.hpp"

namespace mob {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::string_view kZapLog = "zap";
constexpr const char* kZapEndpoint = "inproc://zeromq.zap.01";

// Commands on the control pipe, one byte each. (Its ready handshake is the Actor's.)
enum class ZapCommand : std::uint8_t { reload = 2, stop = 3 };

bool send_command(zmq::socket_t& socket, ZapCommand command) {
  auto byte = static_cast<char>(command);
  return send_frames(socket, {std::string_view(&byte, 1)}, /*dont_wait=*/true);
}

std::optional<ZapCommand> receive_command(zmq::socket_t& socket, bool dont_wait) {
  auto frames = recv_frames(socket, dont_wait);
  if (!frames || frames->size() != 1 || frames->front().size() != 1) return std::nullopt;
  auto value = static_cast<std::uint8_t>(frames->front()[0]);
  if (value < 2 || value > 3) return std::nullopt;
  return static_cast<ZapCommand>(value);
}

std::string source_text(const std::string& key, const std::string& address) {
  return "key " + (key.empty() ? std::string("(none)") : key) + " from " +
         (address.empty() ? std::string("?") : address);
}

class Handler {
 public:
  Handler(ZapConfig config, AuthorizedKeys keys, zmq::socket_t zap, zmq::socket_t control,
          std::vector<std::pair<zmq::socket_t, std::string>> monitors)
      : config_(std::move(config)),
        keys_(std::move(keys)),
        zap_(std::move(zap)),
        control_(std::move(control)),
        monitors_(std::move(monitors)) {}

  void run() {
    while (true) {
      std::vector<zmq::pollitem_t> items = {{zap_.handle(), 0, ZMQ_POLLIN, 0},
                                            {control_.handle(), 0, ZMQ_POLLIN, 0}};
      for (auto& [monitor, what] : monitors_) items.push_back({monitor.handle(), 0, ZMQ_POLLIN, 0});
      // No timers: the handler only answers.
      poll_sockets(items.data(), items.size(), std::chrono::milliseconds(-1));
      while (auto request = recv_frames(zap_)) answer(*request);
      for (auto& [monitor, what] : monitors_)
        while (auto event = recv_monitor_event(monitor)) note_failed_handshake(*event, what);
      while (auto command = receive_command(control_, /*dont_wait=*/true)) {
        if (*command == ZapCommand::stop) return;
        if (*command == ZapCommand::reload) reload();
      }
    }
  }

 private:
  // ZAP 1.0 (RFC 27): [version, request id, domain, address, identity, mechanism,
  // credentials...]; the reply is [version, request id, status, text, user id, metadata].
  void answer(const std::vector<std::string>& request) {
    if (request.size() < 6 || request[0] != "1.0") {
      log::warn(kZapLog, "refused a malformed ZAP request of ", request.size(), " frames");
      // A REP socket must answer every request before it can read the next one.
      reply(request.size() >= 2 ? request[1] : "", "500", "malformed request", "");
      return;
    }
    const std::string& address = request[3];
    const std::string& mechanism = request[5];
    const std::string key = mechanism == "CURVE" && request.size() >= 7 ? z85_of(request[6]) : "";
    if (!key.empty() && keys_.allows_binary(request[6])) {
      reply(request[1], "200", "OK", key);
      return;
    }
    reply(request[1], "400", "key not authorized", "");
    auto decision = limiter_.refused(key + "|" + address, system_time().steady_now());
    if (!decision.log) return;
    std::ostringstream line;
    line << "refused " << source_text(key, address) << " (" << mechanism
         << "): not in --authorized-keys";
    if (decision.repeats > 0)
      line << "; refused " << decision.repeats << " more times since last logged";
    if (decision.suppressed > 0)
      line << "; " << decision.suppressed << " refusals of other sources not logged";
    log::warn(kZapLog, line.str());
  }

  void reply(const std::string& id, std::string_view status, std::string_view text,
             std::string_view user) {
    send_frames(zap_, {"1.0", id, status, text, user, ""}, /*dont_wait=*/true);
  }

  void note_failed_handshake(const MonitorEvent& event, const std::string& what) {
    const std::uint32_t value = event.value;
    std::string why = value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH
                          ? "the client does not use CURVE (no key)"
                      : value == ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC
                          ? "the client's handshake does not decrypt (wrong server key)"
                          : "protocol error " + std::to_string(value);
    auto decision = limiter_.refused(what + "|" + why, system_time().steady_now());
    if (!decision.log) return;
    std::ostringstream line;
    line << "refused a connection to " << event.endpoint << " (" << what << "): " << why;
    if (decision.repeats > 0) line << "; " << decision.repeats << " more since last logged";
    if (decision.suppressed > 0)
      line << "; " << decision.suppressed << " refusals of other sources not logged";
    log::warn(kZapLog, line.str());
  }

  void reload() {
    if (config_.authorized_keys_file.empty()) {
      log::info(kZapLog, "reload asked, but this agent has no --authorized-keys file");
      return;
    }
    auto loaded = AuthorizedKeys::load(config_.authorized_keys_file);
    if (!loaded) {
      log::error(kZapLog, "kept the previous authorized keys: ", loaded.error().message);
      return;
    }
    loaded->allow(config_.network_public_key);
    keys_ = std::move(*loaded);
    log::info(kZapLog, "reloaded ", config_.authorized_keys_file.string(), ": ", keys_.size(),
              " keys allowed (the network key included)");
  }

  ZapConfig config_;
  AuthorizedKeys keys_;
  zmq::socket_t zap_;
  zmq::socket_t control_;
  std::vector<std::pair<zmq::socket_t, std::string>> monitors_;
  RefusalLimiter limiter_;
};

}  // namespace

RefusalLimiter::RefusalLimiter(std::chrono::milliseconds window, std::uint32_t lines_per_window,
                               std::size_t max_sources)
    : window_(window), lines_per_window_(lines_per_window), max_sources_(max_sources) {}

RefusalLimiter::Decision RefusalLimiter::refused(const std::string& source, TimePoint now) {
  if (lines_in_budget_ == 0 || now - budget_started_ >= window_) {
    budget_started_ = now;
    lines_in_budget_ = 0;
  }
  auto found = sources_.find(source);
  if (found != sources_.end() && now - found->second.logged_at < window_) {
    ++found->second.repeats;
    return {};
  }
  if (lines_in_budget_ >= lines_per_window_) {
    ++suppressed_;
    return {};
  }
  if (found == sources_.end() && sources_.size() >= max_sources_) {
    std::erase_if(sources_,
                  [&](const auto& entry) { return now - entry.second.logged_at >= window_; });
    if (sources_.size() >= max_sources_) {
      ++suppressed_;
      return {};
    }
  }
  Source& entry = sources_[source];
  Decision decision{true, entry.repeats, suppressed_};
  entry = Source{now, 0};
  suppressed_ = 0;
  ++lines_in_budget_;
  return decision;
}

Result<std::unique_ptr<ZapHandler>> ZapHandler::start(zmq::context_t& context, ZapConfig config,
                                                      const std::vector<WatchedSocket>& watched) {
  AuthorizedKeys keys;
  if (!config.authorized_keys_file.empty()) {
    auto loaded = AuthorizedKeys::load(config.authorized_keys_file);
    if (!loaded) return std::unexpected(loaded.error());
    keys = std::move(*loaded);
  }
  keys.allow(config.network_public_key);

  zmq::socket_t zap(context, zmq::socket_type::rep);
  zap.set(zmq::sockopt::linger, 0);
  try {
    zap.bind(kZapEndpoint);
  } catch (const zmq::error_t& e) {
    return fail(Errc::internal, std::string("cannot bind the ZAP handler: ") + e.what());
  }
  std::vector<std::pair<zmq::socket_t, std::string>> monitors;
  for (const auto& socket : watched) {
    // Read here, in the ZAP thread; the watched sockets' owners outlive it and close them at
    // the end (the context's termination ends the monitors).
    zmq::socket_t monitor;
    try {
      monitor = open_monitor(context, *socket.socket, "zap", ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL);
    } catch (const zmq::error_t& e) {
      return fail(Errc::internal, "cannot monitor the " + socket.what + " socket: " + e.what());
    }
    monitors.emplace_back(std::move(monitor), socket.what);
  }

  auto pipe = make_pipe(context, "zap-control");
  std::unique_ptr<ZapHandler> handler(new ZapHandler());
  handler->control_ = std::move(pipe.first);
  log::info(kZapLog, "CURVE on every socket; ", keys.size(), " client keys allowed",
            config.authorized_keys_file.empty()
                ? std::string(" (the network key only: no --authorized-keys)")
                : " (the network key and " + config.authorized_keys_file.string() + ")");
  // The ready handshake: the thread runs before anything that needs it binds.
  auto actor = Actor::start("zap", [loop = Handler(std::move(config), std::move(keys), std::move(zap),
                                                   std::move(pipe.second), std::move(monitors))](
                                       ActorStartup& startup) mutable {
    startup.ready();
    loop.run();
  });
  if (!actor) return std::unexpected(actor.error());
  handler->actor_ = std::move(*actor);
  return handler;
}

void ZapHandler::reload() { send_command(control_, ZapCommand::reload); }

ZapHandler::~ZapHandler() {
  if (!actor_) return;
  send_command(control_, ZapCommand::stop);
  actor_.reset();  // joins
}

}  // namespace mob
