/*
 * crash_trace.cpp — see crash_trace.hpp.
 */
#include "core/common/crash_trace.hpp"

#include <csignal>
#include <cstring>
#include <execinfo.h>
#include <initializer_list>
#include <unistd.h>

namespace europeana::core {

namespace {

const char *crash_who = "process";
/* the trace runs on its own stack: a stack overflow is a SIGSEGV too */
alignas(16) char alt_stack[64 * 1024];

void
WriteText(const char *text) noexcept {
	size_t left = strlen(text);
	while (left > 0) {
		const ssize_t n = write(STDERR_FILENO, text, left);
		if (n <= 0) {
			return;
		}
		text += n;
		left -= static_cast<size_t>(n);
	}
}

/* Async-signal-safe, apart from backtrace's first call (made at install time). */
void
OnFatalSignal(int sig) {
	WriteText(crash_who);
	WriteText(": fatal signal ");
	WriteText(strsignal(sig) != nullptr ? strsignal(sig) : "?");
	WriteText(", stack of the crashing thread:\n");
	void *frames[64];
	const int n = backtrace(frames, 64);
	backtrace_symbols_fd(frames, n, STDERR_FILENO);
	/* SA_RESETHAND restored the default action: die of the same signal */
	raise(sig);
}

} // namespace

void
InstallCrashTrace(const char *who) noexcept {
	crash_who = who;
	void *warm[1];
	(void)backtrace(warm, 1); /* loads libgcc's unwinder now, not inside the handler */
	stack_t ss {};
	ss.ss_sp = alt_stack;
	ss.ss_size = sizeof(alt_stack);
	(void)sigaltstack(&ss, nullptr);
	struct sigaction sa {};
	sa.sa_handler = OnFatalSignal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESETHAND | SA_ONSTACK;
	for (int sig : {SIGSEGV, SIGBUS, SIGILL, SIGFPE}) {
		(void)sigaction(sig, &sa, nullptr);
	}
}

} // namespace europeana::core
