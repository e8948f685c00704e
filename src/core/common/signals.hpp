/*
 * signals.hpp — block every signal on the calling thread for the lifetime of a scope.
 *
 * Thread pools (OpenMP, c10 interop, OpenCV) inherit the signal mask of the thread that
 * creates them.  Running any core call that may create threads inside this scope keeps
 * PostgreSQL's SIGINT/SIGTERM/SIGALRM/SIGUSR1 handlers on the backend's main thread.
 * Signals that arrive meanwhile stay pending and are delivered when the scope ends, so
 * callers keep the guarded work short (one image, one small batch).  Fault signals (SIGSEGV,
 * SIGBUS, SIGILL) stay unblocked: they cannot wait.
 */
#pragma once

#include "core/common/no_postgres.hpp"

#include <csignal>
#include <initializer_list>
#include <pthread.h>

namespace europeana::core {

class SignalBlockScope {
public:
	SignalBlockScope() noexcept {
		sigset_t all;
		sigfillset(&all);
		/* a fault is delivered to the faulting thread whatever its mask (a blocked one kills
		 * the process at once): leaving these open lets a crash handler run (crash_trace.hpp).
		 * Not SIGFPE: PostgreSQL's handler for it raises an ERROR, which must never run on a
		 * library thread; blocked, it kills the process as before. */
		for (int sig : {SIGSEGV, SIGBUS, SIGILL}) {
			sigdelset(&all, sig);
		}
		active_ = pthread_sigmask(SIG_BLOCK, &all, &saved_) == 0;
	}
	~SignalBlockScope() {
		if (active_) {
			pthread_sigmask(SIG_SETMASK, &saved_, nullptr);
		}
	}
	SignalBlockScope(const SignalBlockScope &) = delete;
	SignalBlockScope &operator=(const SignalBlockScope &) = delete;

private:
	sigset_t saved_;
	bool active_ = false;
};

} // namespace europeana::core
