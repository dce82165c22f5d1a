#include "bench/serf_rpc.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include <msgpack.hpp>

namespace mob::bench {
namespace {

std::string errno_text(int error) { return std::strerror(error); }

// Serf's codec writes strings as msgpack raw, which arrives as STR or BIN.
std::string text_of(const msgpack::object& object) {
  if (object.type == msgpack::type::STR) return {object.via.str.ptr, object.via.str.size};
  if (object.type == msgpack::type::BIN) return {object.via.bin.ptr, object.via.bin.size};
  return {};
}

const msgpack::object* field(const msgpack::object& map, std::string_view key) {
  if (map.type != msgpack::type::MAP) return nullptr;
  for (std::uint32_t i = 0; i < map.via.map.size; ++i) {
    const auto& pair = map.via.map.ptr[i];
    if (text_of(pair.key) == key) return &pair.val;
  }
  return nullptr;
}

}  // namespace

// Never moved: the unpacker keeps pointers into itself.
struct SerfRpc::Connection {
  int fd = -1;
  std::uint64_t seq = 0;
  msgpack::unpacker unpacker;

  ~Connection() {
    if (fd >= 0) ::close(fd);
  }

  Result<void> send_request(const std::string& command, const msgpack::sbuffer* body) {
    msgpack::sbuffer frame;
    msgpack::packer<msgpack::sbuffer> pk(frame);
    pk.pack_map(2);
    pk.pack(std::string("Command"));
    pk.pack(command);
    pk.pack(std::string("Seq"));
    pk.pack(seq++);
    if (body) frame.write(body->data(), body->size());
    std::size_t sent = 0;
    while (sent < frame.size()) {
      ssize_t n = ::send(fd, frame.data() + sent, frame.size() - sent, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return fail(Errc::unavailable, "serf rpc: send: " + errno_text(errno));
      sent += static_cast<std::size_t>(n);
    }
    return {};
  }

  Result<msgpack::object_handle> next_object() {
    msgpack::object_handle handle;
    try {
      while (!unpacker.next(handle)) {
        unpacker.reserve_buffer(64 * 1024);
        ssize_t n = ::recv(fd, unpacker.buffer(), unpacker.buffer_capacity(), 0);
        if (n < 0 && errno == EINTR) continue;
        if (n == 0) return fail(Errc::unavailable, "serf rpc: connection closed");
        if (n < 0) return fail(Errc::unavailable, "serf rpc: recv: " + errno_text(errno));
        unpacker.buffer_consumed(static_cast<std::size_t>(n));
      }
    } catch (const std::exception& e) {
      return fail(Errc::malformed, std::string("serf rpc: not msgpack: ") + e.what());
    }
    return handle;
  }

  Result<void> read_header(std::uint64_t expected_seq) {
    auto header = next_object();
    if (!header) return std::unexpected(header.error());
    const msgpack::object& map = header->get();
    const auto* error = field(map, "Error");
    const auto* got_seq = field(map, "Seq");
    if (!got_seq || got_seq->type != msgpack::type::POSITIVE_INTEGER ||
        got_seq->via.u64 != expected_seq)
      return fail(Errc::malformed, "serf rpc: reply header without the expected Seq");
    if (error && !text_of(*error).empty())
      return fail(Errc::unavailable, "serf rpc: " + text_of(*error));
    return {};
  }
};

Result<SerfRpc> SerfRpc::connect(const std::string& host, int port,
                                 std::chrono::milliseconds timeout) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  if (inet_pton(AF_INET, host.c_str(), &address.sin_addr) != 1)
    return fail(Errc::invalid_argument, "serf rpc: \"" + host + "\" is not an IPv4 address");
  auto connection = std::make_unique<Connection>();
  connection->fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (connection->fd < 0) return fail(Errc::io, "serf rpc: socket: " + errno_text(errno));
  const int fd = connection->fd;
  timeval tv{.tv_sec = timeout.count() / 1000, .tv_usec = (timeout.count() % 1000) * 1000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0)
    return fail(Errc::unavailable, "serf rpc: connect to " + host + ":" + std::to_string(port) +
                                       ": " + errno_text(errno));
  msgpack::sbuffer body;
  msgpack::packer<msgpack::sbuffer> pk(body);
  pk.pack_map(1);
  pk.pack(std::string("Version"));
  pk.pack(1);
  if (auto sent = connection->send_request("handshake", &body); !sent)
    return std::unexpected(sent.error());
  if (auto header = connection->read_header(connection->seq - 1); !header)
    return std::unexpected(header.error());
  return SerfRpc(std::move(connection));
}

SerfRpc::SerfRpc(std::unique_ptr<Connection> connection) : connection_(std::move(connection)) {}
SerfRpc::SerfRpc(SerfRpc&&) noexcept = default;
SerfRpc& SerfRpc::operator=(SerfRpc&&) noexcept = default;
SerfRpc::~SerfRpc() = default;

Result<std::vector<SerfMember>> SerfRpc::members() {
  Connection& c = *connection_;
  if (auto sent = c.send_request("members", nullptr); !sent) return std::unexpected(sent.error());
  if (auto header = c.read_header(c.seq - 1); !header) return std::unexpected(header.error());
  auto body = c.next_object();
  if (!body) return std::unexpected(body.error());
  const auto* list = field(body->get(), "Members");
  if (!list || list->type != msgpack::type::ARRAY)
    return fail(Errc::malformed, "serf rpc: members reply without a Members array");
  std::vector<SerfMember> members;
  members.reserve(list->via.array.size);
  for (std::uint32_t i = 0; i < list->via.array.size; ++i) {
    const auto& item = list->via.array.ptr[i];
    const auto* name = field(item, "Name");
    const auto* status = field(item, "Status");
    if (!name || !status) return fail(Errc::malformed, "serf rpc: member without Name or Status");
    members.push_back({text_of(*name), text_of(*status)});
  }
  return members;
}

}  // namespace mob::bench
