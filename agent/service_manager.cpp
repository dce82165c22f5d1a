#include "agent/service_manager.hpp"

#include <dlfcn.h>
#include <systemd/sd-daemon.h>

#include <cstdlib>
#include <cstring>
#include <string>

namespace mob {
namespace {
// libsystemd's soname; Debian's libsystemd0 provides it wherever systemd runs.
constexpr const char* kLibsystemd = "libsystemd.so.0";
}  // namespace

Result<bool> notify_service_manager(std::string_view state) {
  const char* socket = std::getenv("NOTIFY_SOCKET");
  if (socket == nullptr || *socket == '\0') return false;
  // Loaded only here: linked, libsystemd and the five libraries it needs would stay mapped in
  // every agent, which costs resident memory (docs/performance.md) for two messages in a life.
  void* library = ::dlopen(kLibsystemd, RTLD_NOW | RTLD_LOCAL);
  if (library == nullptr)
    return fail(Errc::unavailable, std::string("$NOTIFY_SOCKET is set but ") + kLibsystemd +
                                       " cannot be loaded (" + ::dlerror() +
                                       "): install libsystemd0, or run mob-agent with Type=simple");
  auto notify = reinterpret_cast<decltype(&::sd_notify)>(::dlsym(library, "sd_notify"));
  if (notify == nullptr) {
    ::dlclose(library);
    return fail(Errc::unavailable, std::string(kLibsystemd) + " has no sd_notify");
  }
  const std::string text(state);
  int sent = notify(0, text.c_str());
  ::dlclose(library);
  if (sent < 0)
    return fail(Errc::io, "cannot tell the service manager " + text + " through $NOTIFY_SOCKET " +
                              socket + ": " + std::strerror(-sent));
  return sent > 0;
}

}  // namespace mob
