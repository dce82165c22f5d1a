#include "bus/instance_id.hpp"

#include <charconv>

namespace mob {

std::string InstanceId::key() const { return service + "." + std::to_string(index); }

std::string InstanceId::display_name() const { return service + "/" + std::to_string(index); }

Result<InstanceId> InstanceId::from_key(std::string_view key) {
  const auto dot = key.rfind('.');
  if (dot == std::string_view::npos || dot == 0)
    return fail(Errc::invalid_argument, "instance key \"" + std::string(key) +
                                            "\": expected SERVICE.INDEX, such as web.0");
  const std::string_view digits = key.substr(dot + 1);
  InstanceId id{std::string(key.substr(0, dot)), 0};
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), id.index);
  if (digits.empty() || error != std::errc() || end != digits.data() + digits.size())
    return fail(Errc::invalid_argument, "instance key \"" + std::string(key) +
                                            "\": the index after the last '.' must be a number "
                                            "from 0 to 4294967295, got \"" +
                                            std::string(digits) + "\"");
  return id;
}

}  // namespace mob
