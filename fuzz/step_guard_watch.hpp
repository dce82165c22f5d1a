// A finding a store hides from a fuzzer: an exception its step boundary (StepGuard, in
// agent/actor.hpp) caught. The guard keeps an agent running, but the exception is a bug all
// the same. Linked into a target, this interposes the C++ runtime's
// __cxa_allocate_exception (every throw calls it at the throw site) and __cxa_begin_catch
// (every catch block starts with it) and, on the watched thread only, aborts the process
// with the exception and where it was thrown when a catch is inside StepGuard::run.
#pragma once

#include <pthread.h>

namespace mob::fuzz {

// Watches `thread` from now on (one thread at a time). `label` starts the printed lines.
// With `full_stacks` every throw on it records its whole stack (a backtrace, slow when a
// store throws a lot, e.g. the door refusing requests); without, only the frame that threw.
void watch_step_guard(pthread_t thread, const char* label, bool full_stacks);
// Stops watching (before the watched thread ends, or before another is watched).
void unwatch_step_guard();

}  // namespace mob::fuzz
