#include "bus/log.hpp"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <ctime>
#include <initializer_list>
#include <utility>

namespace mob::log {
namespace {
// The process-wide settings: written once by main before threads start.
std::atomic<Level> current_level{Level::info};
std::atomic<Format> current_format{Format::text};
std::atomic<bool> priority_prefix{false};

std::string_view level_name(Level at) {
  switch (at) {
    case Level::debug: return "DEBUG";
    case Level::info: return "INFO ";
    case Level::warn: return "WARN ";
    case Level::error: return "ERROR";
    case Level::off: break;
  }
  return "";
}

std::string_view json_level_name(Level at) {
  switch (at) {
    case Level::debug: return "debug";
    case Level::info: return "info";
    case Level::warn: return "warn";
    case Level::error: return "error";
    case Level::off: break;
  }
  return "off";
}

// The length of the well-formed UTF-8 sequence at the start of `text`, or 0.
std::size_t utf8_sequence(std::string_view text) {
  auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  unsigned char lead = byte(0);
  std::size_t length = lead < 0x80 ? 1 : (lead & 0xE0) == 0xC0 ? 2 : (lead & 0xF0) == 0xE0 ? 3
                                       : (lead & 0xF8) == 0xF0 ? 4 : 0;
  if (length == 0 || length > text.size()) return 0;
  std::uint32_t code = length == 1 ? lead : length == 2 ? lead & 0x1F : length == 3 ? lead & 0x0F : lead & 0x07;
  for (std::size_t i = 1; i < length; ++i) {
    if ((byte(i) & 0xC0) != 0x80) return 0;
    code = (code << 6) | (byte(i) & 0x3F);
  }
  static constexpr std::uint32_t kSmallest[] = {0, 0, 0x80, 0x800, 0x10000};
  if (code < kSmallest[length] || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return 0;
  return length;
}

void append_json_string(std::string& out, std::string_view text) {
  out += '"';
  while (!text.empty()) {
    std::size_t length = utf8_sequence(text);
    if (length == 0) {
      out += "\\ufffd";
      text.remove_prefix(1);
      continue;
    }
    char c = text[0];
    if (c == '"') out += "\\\"";
    else if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else if (c == '\r') out += "\\r";
    else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
      out += escaped;
    } else {
      out.append(text.substr(0, length));
    }
    text.remove_prefix(length);
  }
  out += '"';
}

// syslog(3) priorities, as journald reads them at the start of a line.
std::string_view syslog_priority(Level at) {
  switch (at) {
    case Level::debug: return "<7>";
    case Level::info: return "<6>";
    case Level::warn: return "<4>";
    case Level::error: return "<3>";
    case Level::off: break;
  }
  return "<6>";
}
}  // namespace

void set_level(Level at) { current_level.store(at, std::memory_order_relaxed); }
Level level() { return current_level.load(std::memory_order_relaxed); }
void set_format(Format as) { current_format.store(as, std::memory_order_relaxed); }
Format format() { return current_format.load(std::memory_order_relaxed); }
void set_journal_priorities(bool on) { priority_prefix.store(on, std::memory_order_relaxed); }
bool journal_priorities() { return priority_prefix.load(std::memory_order_relaxed); }

bool parse_level(std::string_view text, Level& out) {
  if (text == "debug") out = Level::debug;
  else if (text == "info") out = Level::info;
  else if (text == "warn" || text == "warning") out = Level::warn;
  else if (text == "error") out = Level::error;
  else if (text == "off") out = Level::off;
  else return false;
  return true;
}

bool parse_format(std::string_view text, Format& out) {
  if (text == "text") out = Format::text;
  else if (text == "json") out = Format::json;
  else return false;
  return true;
}

std::string format_line(Format as, Level at, std::string_view component, std::string_view message,
                        std::chrono::system_clock::time_point when) {
  return format_line(as, at, component, About{}, message, when);
}

std::string format_line(Format as, Level at, std::string_view component, const About& about,
                        std::string_view message, std::chrono::system_clock::time_point when) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(when.time_since_epoch()).count();
  std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  std::string line;
  line.reserve(message.size() + component.size() + 80);
  char stamp[48];
  if (as == Format::json) {
    std::snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900,
                  utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                  static_cast<int>(ms % 1000));
    line.append("{\"time\":\"").append(stamp).append("\",\"level\":\"").append(json_level_name(at));
    line.append("\",\"component\":");
    append_json_string(line, component);
    for (auto [key, value] : {std::pair{"service", about.service}, std::pair{"instance", about.instance},
                              std::pair{"member", about.member}}) {
      if (value.empty()) continue;
      line.append(",\"").append(key).append("\":");
      append_json_string(line, value);
    }
    line.append(",\"message\":");
    append_json_string(line, message);
    line.append("}\n");
    return line;
  }
  std::snprintf(stamp, sizeof stamp, "%02d:%02d:%02d.%03d", utc.tm_hour, utc.tm_min, utc.tm_sec,
                static_cast<int>(ms % 1000));
  line.append(stamp).append(" ").append(level_name(at)).append(" [").append(component).append("] ");
  line.append(message).append("\n");
  return line;
}

void write(Level at, std::string_view component, std::string_view message) {
  write(at, component, About{}, message);
}

void write(Level at, std::string_view component, const About& about, std::string_view message) {
  auto line = format_line(format(), at, component, about, message, std::chrono::system_clock::now());
  if (journal_priorities()) line.insert(0, syslog_priority(at));
  [[maybe_unused]] auto written = ::write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace mob::log
