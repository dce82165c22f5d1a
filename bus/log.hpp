// Line-oriented logging to stderr, shared by every thread: "TIME LEVEL [component] message",
// or one JSON object per line with --log-format json; when stderr is the journal, each line
// starts with its syslog priority ("<4>"), which journald takes as the entry's priority.
// The settings are set once at start-up; each line is written with one write(2), so lines
// of threads never mix.
#pragma once

#include <chrono>
#include <sstream>
#include <string>
#include <string_view>

namespace mob::log {

enum class Level { debug, info, warn, error, off };
enum class Format { text, json };

void set_level(Level level);
Level level();
// Parses "debug|info|warn|error|off".
bool parse_level(std::string_view text, Level& out);
void set_format(Format format);
Format format();
// Parses "text|json".
bool parse_format(std::string_view text, Format& out);
// Prefix each line with its syslog priority (<7> debug, <6> info, <4> warn, <3> error).
void set_journal_priorities(bool on);
bool journal_priorities();
// What a line is about. The json format writes each non-empty one as a field of its own
// ("service", "instance", "member"); the text format leaves them to the message, which
// names them anyway.
struct About {
  std::string_view service;
  std::string_view instance;
  std::string_view member;
};
inline About about_service(std::string_view service) { return About{service, {}, {}}; }
inline About about_instance(std::string_view service, std::string_view instance) {
  return About{service, instance, {}};
}
// From an instance's key, "SERVICE.INDEX" (bus/instance_id.hpp): the service is what comes
// before the last dot.
inline About about_instance(std::string_view key) {
  auto dot = key.rfind('.');
  return About{dot == std::string_view::npos ? std::string_view{} : key.substr(0, dot), key, {}};
}
inline About about_member(std::string_view member) { return About{{}, {}, member}; }
void write(Level level, std::string_view component, std::string_view message);
void write(Level level, std::string_view component, const About& about, std::string_view message);

// The line `write` makes (without the priority prefix), newline included. json: {"time":"2024-05-01T12:00:00.123Z",
// "level":"info","component":"store","message":"..."}; bytes that are not UTF-8 become U+FFFD.
std::string format_line(Format format, Level level, std::string_view component, std::string_view message,
                        std::chrono::system_clock::time_point at);
// The same with the fields of `about` after "component" in json: ..."component":"supervisor",
// "service":"web","instance":"web.0","message":"...".
std::string format_line(Format format, Level level, std::string_view component, const About& about,
                        std::string_view message, std::chrono::system_clock::time_point at);

template <class... Parts>
void emit(Level at, std::string_view component, const Parts&... parts) {
  if (level() > at) return;
  std::ostringstream line;
  (line << ... << parts);
  write(at, component, line.str());
}
template <class... Parts>
void emit(Level at, std::string_view component, const About& about, const Parts&... parts) {
  if (level() > at) return;
  std::ostringstream line;
  (line << ... << parts);
  write(at, component, about, line.str());
}
template <class... Parts>
void debug(std::string_view component, const Parts&... parts) { emit(Level::debug, component, parts...); }
template <class... Parts>
void debug(std::string_view component, const About& about, const Parts&... parts) {
  emit(Level::debug, component, about, parts...);
}
template <class... Parts>
void info(std::string_view component, const Parts&... parts) { emit(Level::info, component, parts...); }
template <class... Parts>
void info(std::string_view component, const About& about, const Parts&... parts) {
  emit(Level::info, component, about, parts...);
}
template <class... Parts>
void warn(std::string_view component, const Parts&... parts) { emit(Level::warn, component, parts...); }
template <class... Parts>
void warn(std::string_view component, const About& about, const Parts&... parts) {
  emit(Level::warn, component, about, parts...);
}
template <class... Parts>
void error(std::string_view component, const Parts&... parts) { emit(Level::error, component, parts...); }
template <class... Parts>
void error(std::string_view component, const About& about, const Parts&... parts) {
  emit(Level::error, component, about, parts...);
}

}  // namespace mob::log
