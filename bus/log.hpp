// Line-oriented logging to stderr, shared by every thread: "TIME LEVEL [component] message".
// The level is set once at start-up; each line is written with one write(2).
#pragma once

#include <sstream>
#include <string>
#include <string_view>

namespace mob::log {

enum class Level { debug, info, warn, error, off };

void set_level(Level level);
Level level();
// Parses "debug|info|warn|error|off".
bool parse_level(std::string_view text, Level& out);
void write(Level level, std::string_view component, std::string_view message);

template <class... Parts>
void emit(Level at, std::string_view component, const Parts&... parts) {
  if (level() > at) return;
  std::ostringstream line;
  (line << ... << parts);
  write(at, component, line.str());
}
template <class... Parts>
void debug(std::string_view component, const Parts&... parts) { emit(Level::debug, component, parts...); }
template <class... Parts>
void info(std::string_view component, const Parts&... parts) { emit(Level::info, component, parts...); }
template <class... Parts>
void warn(std::string_view component, const Parts&... parts) { emit(Level::warn, component, parts...); }
template <class... Parts>
void error(std::string_view component, const Parts&... parts) { emit(Level::error, component, parts...); }

}  // namespace mob::log
