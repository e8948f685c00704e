/*
 * crash_trace.cpp — see crash_trace.hpp.
 */
#include "core/common/crash_trace.hpp"

#include <csignal>
#include <cstdint>
#include <dlfcn.h>
#include <ucontext.h>
#include <cstring>
#include <execinfo.h>
#include <fcntl.h>
#include <initializer_list>
#include <unistd.h>

namespace europeana::core {

namespace {

const char *crash_who = "process";
/* the main thread's trace runs on a stack of its own (a stack overflow is a SIGSEGV too);
 * an alternate stack is per thread, so a library thread's overflow leaves no trace */
alignas(16) char alt_stack[64 * 1024];
/* The stack scan reads words through this pipe: write() fails with EFAULT on memory that is
 * not mapped (the scan may run past the top of the stack) where a plain read would fault
 * again inside the handler and end the trace there. */
int probe_pipe[2] = {-1, -1};

bool
ReadWord(const void *const *at, void **out) noexcept {
	if (probe_pipe[1] < 0 || write(probe_pipe[1], at, sizeof(void *)) != static_cast<ssize_t>(sizeof(void *))) {
		return false;
	}
	return read(probe_pipe[0], out, sizeof(void *)) == static_cast<ssize_t>(sizeof(void *));
}

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

void
WriteHex(uintptr_t v) noexcept {
	char text[2 + 16 + 1];
	char *p = text + sizeof(text) - 1;
	*p = '\0';
	do {
		*--p = "0123456789abcdef"[v & 15];
		v >>= 4;
	} while (v != 0);
	*--p = 'x';
	*--p = '0';
	WriteText(p);
}

/* strsignal may take locks and allocate (translations): not in a handler */
const char *
SignalName(int sig) noexcept {
	switch (sig) {
	case SIGSEGV:
		return "Segmentation fault";
	case SIGBUS:
		return "Bus error";
	case SIGILL:
		return "Illegal instruction";
	default:
		return "?";
	}
}

/* The frames the unwinder finds, then (it stops at code without unwind tables, or at a call
 * through a null pointer) the faulting instruction and the words at the top of the stack
 * that point into a loaded object: a crash reporter's stack scan, to be read with care.
 * Async-signal-safe, apart from backtrace's first call (made at install time) and dladdr. */
void
OnFatalSignal(int sig, siginfo_t *info, void *context) {
	WriteText(crash_who);
	WriteText(": fatal signal ");
	WriteText(SignalName(sig));
	WriteText(" at address ");
	WriteHex(reinterpret_cast<uintptr_t>(info != nullptr ? info->si_addr : nullptr));
	WriteText(", stack of the crashing thread:\n");
	void *frames[64];
	const int n = backtrace(frames, 64);
	backtrace_symbols_fd(frames, n, STDERR_FILENO);
#if defined(__x86_64__)
	const auto *uc = static_cast<const ucontext_t *>(context);
	void *pc = reinterpret_cast<void *>(uc->uc_mcontext.gregs[REG_RIP]);
	auto *const *sp = reinterpret_cast<void *const *>(uc->uc_mcontext.gregs[REG_RSP]);
	WriteText("faulting instruction:\n");
	backtrace_symbols_fd(&pc, 1, STDERR_FILENO);
	WriteText("code addresses in the top 256 stack words:\n");
	int shown = 0;
	for (int k = 0; k < 256 && shown < 24; k++) {
		void *word = nullptr;
		if (!ReadWord(sp + k, &word)) {
			WriteText("(the stack ends here)\n");
			break;
		}
		Dl_info where;
		if (word != nullptr && dladdr(word, &where) != 0 && where.dli_fname != nullptr) {
			backtrace_symbols_fd(&word, 1, STDERR_FILENO);
			shown++;
		}
	}
#else
	(void)context;
#endif
	WriteText(crash_who);
	WriteText(": end of the crash trace\n");
	/* SA_RESETHAND restored the default action: die of the same signal */
	raise(sig);
}

} // namespace

void
InstallCrashTrace(const char *who) noexcept {
	crash_who = who;
	if (probe_pipe[0] < 0 && pipe2(probe_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
		probe_pipe[0] = probe_pipe[1] = -1; /* no scan of the stack, the rest of the trace stays */
	}
	void *warm[1];
	(void)backtrace(warm, 1); /* loads libgcc's unwinder now, not inside the handler */
	stack_t ss {};
	ss.ss_sp = alt_stack;
	ss.ss_size = sizeof(alt_stack);
	(void)sigaltstack(&ss, nullptr);
	struct sigaction sa {};
	sa.sa_sigaction = OnFatalSignal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_SIGINFO | SA_RESETHAND | SA_ONSTACK;
	/* not SIGFPE: PostgreSQL turns it into an ERROR in the worker (FloatExceptionHandler) */
	for (int sig : {SIGSEGV, SIGBUS, SIGILL}) {
		(void)sigaction(sig, &sa, nullptr);
	}
}

} // namespace europeana::core
