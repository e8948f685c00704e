/*
 * crash_trace.hpp — a fatal signal in a worker leaves its stack in the server log.
 *
 * A background worker runs LibTorch, CUDA and nvJPEG on threads of its own; when one of them
 * crashes, the postmaster only logs "terminated by signal 11".  InstallCrashTrace makes the
 * process write the crashing thread's return addresses (and the shared objects they belong
 * to) to stderr, which PostgreSQL sends to its log, then die of the same signal, so that the
 * postmaster's crash handling is unchanged.  Plain C++: no PostgreSQL in here.
 */
#pragma once

#include "core/common/no_postgres.hpp"

namespace europeana::core {

/* For SIGSEGV, SIGBUS and SIGILL, in this process (call once, early; SIGFPE keeps
 * PostgreSQL's handler). `who` names
 * the process in the trace's first line; it must stay valid for the process's life. */
void InstallCrashTrace(const char *who) noexcept;

} // namespace europeana::core
