// libFuzzer target for the wire codec: mob::decode never crashes, leaks or hangs on arbitrary
// bytes, and whatever it accepts re-encodes to bytes that decode again to the same bytes.
// mob::decode_gossip skipping nothing answers as decode does; skipping every record it peeks
// at, it leaves out every record of a gossip decode accepts.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "bus/codec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto envelope = mob::decode(bytes);
  auto whole = mob::decode_gossip(bytes, mob::kDefaultMaxMessageBytes, [](const mob::RecordPeek&) { return false; });
  if (whole.has_value() != envelope.has_value() ||
      (envelope ? mob::encode(*whole) != mob::encode(*envelope) : whole.error().message != envelope.error().message)) {
    std::fprintf(stderr, "decode_gossip skipping nothing differs from decode\n");
    std::abort();
  }
  if (!envelope) return 0;
  if (std::holds_alternative<mob::Gossip>(envelope->body)) {
    auto pruned = mob::decode_gossip(bytes, mob::kDefaultMaxMessageBytes, [](const mob::RecordPeek&) { return true; });
    const auto* left = pruned ? std::get_if<mob::Gossip>(&pruned->body) : nullptr;
    if (!left || !left->delta.members.empty() || !left->delta.services.empty() || !left->delta.assignments.empty() ||
        !left->delta.instances.empty()) {
      std::fprintf(stderr, "decode_gossip skipping every record kept one, or lost the message\n");
      std::abort();
    }
  }
  const std::string once = mob::encode(*envelope);
  auto again = mob::decode(once);
  if (!again) {
    std::fprintf(stderr, "re-encoded %s does not decode: %s\n",
                 std::string(mob::type_name(envelope->body)).c_str(),
                 again.error().message.c_str());
    std::abort();
  }
  if (mob::encode(*again) != once) {
    std::fprintf(stderr, "%s: encode(decode(encode(x))) != encode(x)\n",
                 std::string(mob::type_name(envelope->body)).c_str());
    std::abort();
  }
  return 0;
}
