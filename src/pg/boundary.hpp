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

#include "core/common/error.hpp"

extern "C" {
#include "postgres.h"

#include "fmgr.h"
}

#include <new>
#include <string>

namespace europeana::pg {

/* Raises the error captured by CaptureError/CaptureUnknown; never returns. */
[[noreturn]] void RaiseCaptured();
void CaptureError(ErrorKind kind, const char *message, const char *hint) noexcept;
void CaptureUnknown(const char *message, int sqlstate) noexcept;

template <typename Impl>
Datum
CallGuarded(Impl impl, FunctionCallInfo fcinfo) {
	try {
		return impl(fcinfo);
	} catch (const europeana::Error &e) {
		CaptureError(e.Kind(), e.what(), e.Hint().c_str());
	} catch (const std::bad_alloc &) {
		CaptureUnknown("out of memory in C++ code", ERRCODE_OUT_OF_MEMORY);
	} catch (const std::exception &e) {
		CaptureUnknown(e.what(), ERRCODE_INTERNAL_ERROR);
	} catch (...) {
		CaptureUnknown("unknown C++ exception", ERRCODE_INTERNAL_ERROR);
	}
	RaiseCaptured();
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
