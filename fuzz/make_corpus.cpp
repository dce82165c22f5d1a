// Writes the seed corpora of the fuzz targets: fuzz/corpus/codec (one encoded message of
// every type, empty and filled in) and fuzz/corpus/spec (the examples and variants of them).
// Usage: make_corpus SOURCE_DIR   (run by scripts/fuzz.sh --seed; the output is committed)
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <variant>

#include "bus/codec.hpp"

namespace {

namespace fs = std::filesystem;

void write(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

template <std::size_t I = 0>
void write_every_empty_message(const fs::path& dir) {
  if constexpr (I < std::variant_size_v<mob::Body>) {
    mob::Body body{std::in_place_index<I>};
    write(dir / ("empty-" + std::string(mob::type_name(body))),
          mob::encode(mob::Envelope{mob::kProtocolVersion, I, "seed", body}));
    write_every_empty_message<I + 1>(dir);
  }
}

mob::Member member(const std::string& name) {
  return mob::Member{name, "tcp://127.0.0.1:6666", "tcp://127.0.0.1:6667", mob::MemberState::alive,
                     {"bash", "docker"}, {{"zone", "a"}}, 3, 0.25, "0.1.0"};
}

mob::InstanceStatus instance() {
  return mob::InstanceStatus{"echoes", 1, 0, "node-a", mob::InstanceState::running, mob::Health::healthy, 2, 4242,
                             1700000000000, -1, 0, "", 3,
                             {{"http", true, 1700000000000, 2, "HTTP 200 OK"}}, "127.0.0.1", {{"http", 31012}}};
}

void write_filled_messages(const fs::path& dir) {
  const std::string spec = R"({"name":"echoes","provider":"bash","params":{"command":"echo hi"}})";
  mob::StateDelta delta;
  delta.members = {{member("node-a"), 17, "node-a"}, {member("node-b"), 9, "node-c"}};
  delta.services = {{"echoes", spec, 2, 1, {123456789, "node-a"}}};  // enabled, not removed
  delta.assignments = {{"echoes", 0, "node-b", false, {123456790, "node-a"}}};
  delta.instances = {{instance(), false, {123456791, "node-a"}}};
  const mob::Body bodies[] = {
      mob::PingReply{"node-a", "0.1.0", 1, "tcp://127.0.0.1:6667"},
      mob::DeployRequest{spec, {}},
      mob::DeployReply{"echoes", 2, true, 7, "agent-1", 99},
      mob::StatusRequest{"echoes"},
      mob::StatusReply{{{"echoes", "bash", 2, 1, true, spec, {instance()}}}},
      mob::ControlRequest{"echoes", mob::ControlAction::restart, {}},
      mob::LogsRequest{"echoes", 0, 100, true, 4096},
      mob::LogsReply{"echoes", {{0, "node-a", "hello\nworld\n", 12}}},
      mob::MembersReply{{member("node-a"), member("node-b")}},
      mob::ErrorReply{mob::Errc::invalid_argument, "params.command: required"},
      mob::Gossip{"node-a", 41, delta},
      mob::ProbeRequest{7, "node-a", "node-b", 3, 1700000000000},
      mob::ProbeAck{7, "node-b", 4, 1700000000000},
      mob::IndirectProbeRequest{8, "node-a", "node-b", "tcp://127.0.0.1:6668", true},
      mob::ProbeNack{8, "node-c"},
      mob::JoinRequest{{member("node-c"), 1, "node-c"}},
      mob::JoinReply{delta},
      mob::SyncRequest{"node-a", 99, {{"m/node-a", 3, 0, "node-a"}, {"s/echoes", 123456789, 0, "node-a"}}, 0, {}},
      mob::SyncRequest{"node-a", 10, {}, 4, {}},
      mob::SyncRequest{"node-a", 10, {{"m/node-a", 3, 0, "node-a"}}, 4, {1, 3}},
      mob::SyncReply{delta, {"s/echoes", "i/echoes/0/node-b"}, 0, {}},
      mob::SyncReply{{}, {}, 4, {1, 2, 3, 4}},
      mob::SyncPush{delta},
      mob::WriteCopy{5, "node-a", mob::StateDelta{{}, delta.services, {}, {}}},
      mob::WriteCopied{5, "node-b", 1},
      mob::JoinCommand{{"127.0.0.1:6666", "[::1]:6670"}},
      mob::JoinCommandReply{3},
      mob::Event{"instance.moved", 1700000000000, "node-a", "node-b", 12, 123456789, "echoes", 0,
                 "", "node-b", "node-a", "running", -1, 0, 2, "node-a failed", 4242, "", "", "127.0.0.1", {{"http", 31012}}},
  };
  for (const auto& body : bodies)
    write(dir / ("filled-" + std::string(mob::type_name(body))),
          mob::encode(mob::Envelope{mob::kProtocolVersion, 5, "mob-tool", body}));
}

void write_specs(const fs::path& source, const fs::path& dir) {
  for (const auto& entry : fs::directory_iterator(source / "examples"))
    if (entry.path().extension() == ".json") fs::copy_file(entry.path(), dir / entry.path().filename(),
                                                           fs::copy_options::overwrite_existing);
  const std::pair<const char*, const char*> variants[] = {
      {"minimal.json", R"({"name":"a","provider":"bash","params":{"command":"true"}})"},
      {"restart-string.json",
       R"({"name":"b","provider":"bash","params":{"command":"sleep 1"},"restart":"on-failure"})"},
      {"restart-never.json",
       R"({"name":"c","provider":"bash","params":{"command":"x"},"restart":{"policy":"never"}})"},
      {"requires.json",
       R"({"name":"d","provider":"bash","params":{"command":"x"},"requires":["db","cache"]})"},
      {"constraints.json",
       R"({"name":"e","provider":"bash","params":{"command":"x"},"constraints":{"tags":{"zone":"a","gpu":"yes"}}})"},
      {"zero-instances.json",
       R"({"name":"f","provider":"bash","params":{"command":"x"},"instances":0,"stop_timeout_s":0.25})"},
      {"env-cwd.json",
       R"({"name":"g.h-i_j","provider":"bash","params":{"command":"env","env":{"A":"1","B":""},"cwd":"/"}})"},
      {"docker-full.json",
       R"({"name":"k","provider":"docker","params":{"image":"busybox","args":["sh","-c","echo"],"env":{"X":"y"}},"instances":3})"},
      {"unicode.json",
       R"({"name":"u","provider":"bash","params":{"command":"echo \u00e9\ud83d\ude00 \"q\" \\ \n"}})"},
      {"numbers.json",
       R"({"name":"n","provider":"bash","params":{"command":"x"},"restart":{"max_restarts":0,"window_s":1,"backoff_ms":0,"backoff_max_ms":4294967295}})"},
      {"check-named-port.json",
       R"({"name":"p","provider":"bash","params":{"command":"x"},"ports":{"http":0,"admin":9000},"checks":[{"type":"http","port":"http","path":"/up"},{"type":"tcp","port":9000},{"type":"exec","command":"true"}]})"},
      {"not-object.json", R"(["name","provider"])"},
      {"unknown-field.json", R"({"name":"z","provider":"bash","params":{"command":"x"},"colour":"red"})"},
  };
  for (const auto& [name, text] : variants) write(dir / name, text);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_corpus SOURCE_DIR\n");
    return 2;
  }
  const fs::path source = argv[1];
  const fs::path codec = source / "fuzz" / "corpus" / "codec";
  const fs::path spec = source / "fuzz" / "corpus" / "spec";
  fs::create_directories(codec);
  fs::create_directories(spec);
  write_every_empty_message(codec);
  write_filled_messages(codec);
  write_specs(source, spec);
  return 0;
}
