/*
 * boundary.hpp — the one way C++ exceptions cross into PostgreSQL errors.
 *
 * Every SQL-callable function is defined with EUROPEANA_PG_FUNCTION(name): it declares
 * the V1 entry point `name` (extern "C") that runs `name_impl` inside CallGuarded.
 * CallGuarded catches every C++ exception, copies its message, hint and error kind into
 * static POD buffers (no palloc, no ereport inside a catch block), lets the C++ frames
 * unwind, and only then raises ereport(ERROR) with a real SQLSTATE.
 *
 * `_impl` bodies follow three phases (see CONTRIBUTING.md): PG calls only; a scope
 * block of C++ only; PG calls only.  No C++ object with a destructor may be alive while
 * code that can longjmp runs.
 *
 * Include order in glue files: core headers and the standard library first, then this
 * header (it pulls in postgres.h).
 */
#pragma once

#include "core/classify/classifier.hpp"
#include "core/common/error.hpp"

extern "C" {
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
}

#include <new>
#include <string>

namespace europeana::pg {

/* A PostgreSQL error caught by PgCall, carried through C++ frames as an exception so
 * that destructors run (threads joined, handles closed) before it is raised again. */
class PgException : public std::exception {
public:
	PgException(int sqlstate, std::string message, std::string hint)
	    : sqlstate_(sqlstate), message_(std::move(message)), hint_(std::move(hint)) {
	}
	const char *
	what() const noexcept override {
		return message_.c_str();
	}
	int
	Sqlstate() const noexcept {
		return sqlstate_;
	}
	const std::string &
	Hint() const noexcept {
		return hint_;
	}

private:
	int sqlstate_;
	std::string message_;
	std::string hint_;
};

/* Runs `fn` (which calls PostgreSQL and may ereport) while C++ objects with destructors
 * are alive in the caller: an ERROR is caught, copied, flushed and rethrown as
 * PgException.  `fn` itself must hold no object with a non-trivial destructor across a
 * PostgreSQL call.  The transaction is not usable after a PgException; the guard raises
 * it again and PostgreSQL aborts the transaction. */
void PgCallImpl(void (*fn)(void *), void *arg);

template <typename Fn>
void
PgCall(Fn &&fn) {
	PgCallImpl([](void *f) { (*static_cast<Fn *>(f))(); }, static_cast<void *>(&fn));
}

/* Runs `fn` in an internal subtransaction, as a PL/pgSQL EXCEPTION block does.  On an
 * ERROR the subtransaction is rolled back and the error is returned (copied into the
 * caller's memory context; FreeErrorData or ReThrowError it); the transaction stays
 * usable.  nullptr when `fn` succeeded.  PostgreSQL context only (phase 1 or 3, or inside
 * PgCall); the same rule on C++ objects as PgCall.  Used where a write must not take the
 * whole transaction with it, e.g. when a pending cancel makes the regex engine (which
 * ignores HOLD_CANCEL_INTERRUPTS) fail a statement that runs inside a cancel hold-off. */
ErrorData *TryInSubtransactionImpl(void (*fn)(void *), void *arg);

template <typename Fn>
ErrorData *
TryInSubtransaction(Fn &&fn) {
	return TryInSubtransactionImpl([](void *f) { (*static_cast<Fn *>(f))(); }, static_cast<void *>(&fn));
}

/* Raises an error unless the procedure runs in a non-atomic CALL (outside a transaction
 * block), which it needs because it commits as it goes. Phase 1. */
void RequireNonAtomicCall(FunctionCallInfo fcinfo, const char *procedure, const char *why);

/* The SQLSTATE (as from ERRCODE_*) that a core error kind is raised with. */
int SqlstateOf(ErrorKind kind) noexcept;

/* Raises the error captured by CaptureError/CaptureUnknown; never returns. */
[[noreturn]] void RaiseCaptured();
void CaptureError(ErrorKind kind, const char *message, const char *hint) noexcept;
void CaptureUnknown(const char *message, int sqlstate) noexcept;
void CaptureHint(const char *hint) noexcept;

template <typename Impl>
Datum
CallGuarded(Impl impl, FunctionCallInfo fcinfo) {
	/* A C++ exception that left a PG_TRY block or an error-context frame (which no code of
	 * ours should let happen) would leave these pointing into unwound frames. */
	sigjmp_buf *const exception_stack = PG_exception_stack;
	ErrorContextCallback *const context_stack = error_context_stack;
	try {
		return impl(fcinfo);
	} catch (const europeana::Error &e) {
		CaptureError(e.Kind(), e.what(), e.Hint().c_str());
	} catch (const PgException &e) {
		CaptureUnknown(e.what(), e.Sqlstate());
		CaptureHint(e.Hint().c_str());
	} catch (const std::bad_alloc &) {
		CaptureUnknown("out of memory in C++ code", ERRCODE_OUT_OF_MEMORY);
	} catch (const std::exception &e) {
		CaptureUnknown(e.what(), ERRCODE_INTERNAL_ERROR);
	} catch (...) {
		CaptureUnknown("unknown C++ exception", ERRCODE_INTERNAL_ERROR);
	}
	PG_exception_stack = exception_stack;
	error_context_stack = context_stack;
	/* A core loop that stopped for a pending cancel or terminate: let PostgreSQL raise
	 * its own error (statement timeout, user request, administrator command). */
	CHECK_FOR_INTERRUPTS();
	RaiseCaptured();
}

/* True when a cancel or terminate is pending; read-only and safe from any frame. Core
 * loops get it as their ShouldStop (on the main thread only). */
inline bool
StopRequested() noexcept {
	return QueryCancelPending || ProcDiePending;
}

/* palloc-backed copies made in phase 2: MCXT_ALLOC_NO_OOM turns PostgreSQL's OOM
 * ERROR into std::bad_alloc so no longjmp crosses live C++ frames. */
char *PStrdupNoOom(const std::string &s);
void *PallocNoOom(size_t size);

} // namespace europeana::pg

#define EUROPEANA_PG_FUNCTION(name)                                                                                    \
	static Datum name##_impl(PG_FUNCTION_ARGS);                                                                        \
	extern "C" {                                                                                                       \
	PG_FUNCTION_INFO_V1(name);                                                                                         \
	Datum                                                                                                              \
	name(PG_FUNCTION_ARGS) {                                                                                           \
		return europeana::pg::CallGuarded(name##_impl, fcinfo);                                                        \
	}                                                                                                                  \
	}                                                                                                                  \
	static Datum name##_impl(PG_FUNCTION_ARGS)
