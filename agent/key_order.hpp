// The order of text keys (record keys, service and agent names) for the maps and sets the
// store looks up on every record it receives: std::string's order exactly, inlined.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace mob {

// std::string's order (bytes compared unsigned, then length), written to be inlined, eight
// bytes at a time, and able to look up a std::string_view. Every gossiped
// record costs a few lookups in maps of thousands of keys with long common prefixes
// ("i/web-0042/0/host:6666"), and std::less<std::string> spent most of that in calls to
// operator<=> and memcmp (docs/performance.md, "Record lookups").
struct KeyOrder {
  using is_transparent = void;
  static int compare(std::string_view a, std::string_view b) noexcept {
    const std::size_t common = a.size() < b.size() ? a.size() : b.size();
    std::size_t i = 0;
    for (; i + 8 <= common; i += 8) {
      std::uint64_t x, y;
      std::memcpy(&x, a.data() + i, 8);
      std::memcpy(&y, b.data() + i, 8);
      if (x != y) {
        if constexpr (std::endian::native == std::endian::little) {
          x = __builtin_bswap64(x);
          y = __builtin_bswap64(y);
        }
        return x < y ? -1 : 1;
      }
    }
    for (; i < common; ++i) {
      const auto ca = static_cast<unsigned char>(a[i]), cb = static_cast<unsigned char>(b[i]);
      if (ca != cb) return ca < cb ? -1 : 1;
    }
    return a.size() < b.size() ? -1 : (a.size() > b.size() ? 1 : 0);
  }
  bool operator()(std::string_view a, std::string_view b) const noexcept { return compare(a, b) < 0; }
};

}  // namespace mob
