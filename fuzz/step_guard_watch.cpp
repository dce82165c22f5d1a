#include "fuzz/step_guard_watch.hpp"

#include <cxxabi.h>
#include <dlfcn.h>
#include <execinfo.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <map>
#include <mutex>
#include <string>
#include <typeinfo>

#include <sanitizer/common_interface_defs.h>

// (ASan owns __cxa_throw; the two functions interposed here are not intercepted by it.) A
// catch inside StepGuard::run is recognized by symbolizing the address of its landing pad.

namespace mob::fuzz {
namespace {

std::atomic<bool> watching{false};
pthread_t watched;          // written before `watching` is set
const char* label = "fuzz";  // likewise
bool full_stacks = true;     // likewise
thread_local void* throw_stack[64];
thread_local int throw_depth = 0;
thread_local bool in_exception_hook = false;

bool on_watched_thread() {
  return watching.load(std::memory_order_acquire) && ::pthread_equal(::pthread_self(), watched);
}

// Every function the frame at `pc` is in (inlined ones too) as the symbolizer names them.
std::string functions_at(const void* pc) {
  char text[8192] = {};
  __sanitizer_symbolize_pc(const_cast<void*>(pc), "%f", text, sizeof text - 1);
  std::string names;
  for (const char* frame = text; *frame; frame += std::strlen(frame) + 1) names += std::string(frame) + "\n";
  return names;
}

bool is_step_guard_catch(const void* pc) {
  static std::mutex mutex;
  static std::map<const void*, bool> known;
  std::lock_guard lock(mutex);
  auto found = known.find(pc);
  if (found != known.end()) return found->second;
  return known[pc] = functions_at(pc).find("StepGuard::run") != std::string::npos;
}

void print_frame(int number, const void* return_address) {
  char text[8192] = {};
  // The return address minus one is inside the call, on the line of the call.
  __sanitizer_symbolize_pc(const_cast<char*>(static_cast<const char*>(return_address) - 1), "%p in %f %L", text,
                           sizeof text - 1);
  for (const char* frame = text; *frame; frame += std::strlen(frame) + 1)  // inlined ones first
    std::fprintf(stderr, "    #%d %s\n", number, frame);
}

[[noreturn]] void report_caught_exception() {
  std::string type = "an exception that is not a std::exception";
  if (const std::type_info* info = abi::__cxa_current_exception_type()) {
    int status = 0;
    char* name = abi::__cxa_demangle(info->name(), nullptr, nullptr, &status);
    type = status == 0 && name ? name : info->name();
    std::free(name);
  }
  std::string what;
  try {
    throw;
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
  }
  std::fprintf(stderr, "%s: the store caught %s at its step boundary (StepGuard): %s\n%s: it was thrown here:\n",
               label, type.c_str(), what.c_str(), label);
  if (full_stacks) {
    for (int i = 2; i < throw_depth; ++i) print_frame(i - 2, throw_stack[i]);  // 0, 1: backtrace(), the hook
  } else if (throw_depth == 1) {
    print_frame(0, throw_stack[0]);
    std::fprintf(stderr, "%s: (only the frame that threw: run the input alone for the whole stack)\n", label);
  }
  std::fprintf(stderr, "%s: the store caught an exception at its step boundary: see above where it was thrown\n",
               label);
  std::fflush(stderr);
  std::abort();
}

}  // namespace

void watch_step_guard(pthread_t thread, const char* name, bool whole_stacks) {
  watching.store(false, std::memory_order_release);
  watched = thread;
  label = name;
  full_stacks = whole_stacks;
  watching.store(true, std::memory_order_release);
}

void unwatch_step_guard() { watching.store(false, std::memory_order_release); }

}  // namespace mob::fuzz

using mob::fuzz::in_exception_hook;
using mob::fuzz::throw_depth;
using mob::fuzz::throw_stack;

extern "C" void* __cxa_allocate_exception(std::size_t size) noexcept {
  static auto* real = reinterpret_cast<void* (*)(std::size_t)>(::dlsym(RTLD_NEXT, "__cxa_allocate_exception"));
  if (!in_exception_hook && mob::fuzz::on_watched_thread()) {
    if (mob::fuzz::full_stacks) {
      in_exception_hook = true;
      throw_depth = ::backtrace(throw_stack, 64);
      in_exception_hook = false;
    } else {
      throw_stack[0] = __builtin_return_address(0);
      throw_depth = 1;
    }
  }
  return real(size);
}

extern "C" void* __cxa_begin_catch(void* header) noexcept {
  static auto* real = reinterpret_cast<void* (*)(void*)>(::dlsym(RTLD_NEXT, "__cxa_begin_catch"));
  const char* landing_pad = static_cast<const char*>(__builtin_return_address(0)) - 1;
  void* object = real(header);
  if (!in_exception_hook && mob::fuzz::on_watched_thread()) {
    in_exception_hook = true;
    if (mob::fuzz::is_step_guard_catch(landing_pad)) mob::fuzz::report_caught_exception();
    in_exception_hook = false;
  }
  return object;
}
