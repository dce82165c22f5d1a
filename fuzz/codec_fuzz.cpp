// libFuzzer target for the wire codec: mob::decode never crashes, leaks or hangs on arbitrary
// bytes, and whatever it accepts re-encodes to bytes that decode again to the same bytes.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "bus/codec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto envelope = mob::decode(bytes);
  if (!envelope) return 0;
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
