/*
 * boundary.cpp — error capture and the ereport that follows it.
 *
 * Runs on the main thread only.  The capture buffers are static so that a catch block
 * never allocates through PostgreSQL.
 */
#include "pg/boundary.hpp"

#include <cstring>

extern "C" {
#include "access/xact.h"
#include "nodes/parsenodes.h"
#include "utils/resowner.h"
#include "utils/memutils.h"
}

namespace europeana::pg {

namespace {

struct Captured {
	int sqlstate;
	char message[2048];
	char hint[1024];
};

Captured captured;

void
Copy(char *dst, size_t cap, const char *src) noexcept {
	if (src == nullptr) {
		dst[0] = '\0';
		return;
	}
	strncpy(dst, src, cap - 1);
	dst[cap - 1] = '\0';
}

int
SqlstateFor(ErrorKind kind) noexcept {
	switch (kind) {
	case ErrorKind::InvalidInput:
		return ERRCODE_INVALID_PARAMETER_VALUE;
	case ErrorKind::InvalidData:
		return ERRCODE_INVALID_BINARY_REPRESENTATION;
	case ErrorKind::NotFound:
		return ERRCODE_UNDEFINED_OBJECT;
	case ErrorKind::MissingFile:
		return ERRCODE_UNDEFINED_FILE;
	case ErrorKind::ResourceLimit:
		return ERRCODE_PROGRAM_LIMIT_EXCEEDED;
	case ErrorKind::Unavailable:
		return ERRCODE_CONNECTION_FAILURE;
	case ErrorKind::Cancelled:
		return ERRCODE_QUERY_CANCELED;
	case ErrorKind::Corrupt:
		return ERRCODE_DATA_CORRUPTED;
	case ErrorKind::Internal:
		break;
	}
	return ERRCODE_INTERNAL_ERROR;
}

const char *
DefaultHint(int sqlstate) noexcept {
	switch (sqlstate) {
	case ERRCODE_OUT_OF_MEMORY:
		return "Reduce the size of the input or raise the memory available to the server.";
	case ERRCODE_INTERNAL_ERROR:
		return "This is a bug in the europeana extension or one of its libraries; please report it with the input "
		       "that caused it.";
	case ERRCODE_QUERY_CANCELED:
		return "The operation was cancelled; it can be run again.";
	default:
		return "";
	}
}

} // namespace

void
RequireNonAtomicCall(FunctionCallInfo fcinfo, const char *procedure, const char *why) {
	if (fcinfo->context == nullptr || !IsA(fcinfo->context, CallContext) ||
	    castNode(CallContext, fcinfo->context)->atomic) {
		ereport(ERROR, (errcode(ERRCODE_INVALID_TRANSACTION_TERMINATION),
		                errmsg("%s must be called with CALL outside a transaction block", procedure),
		                errhint("%s; run CALL %s(...) on its own.", why, procedure)));
	}
}

int
SqlstateOf(ErrorKind kind) noexcept {
	return SqlstateFor(kind);
}

void
CaptureError(ErrorKind kind, const char *message, const char *hint) noexcept {
	captured.sqlstate = SqlstateFor(kind);
	Copy(captured.message, sizeof(captured.message), message);
	Copy(captured.hint, sizeof(captured.hint), hint && *hint ? hint : DefaultHint(captured.sqlstate));
}

void
CaptureUnknown(const char *message, int sqlstate) noexcept {
	captured.sqlstate = sqlstate;
	Copy(captured.message, sizeof(captured.message), message);
	Copy(captured.hint, sizeof(captured.hint), DefaultHint(sqlstate));
}

void
CaptureHint(const char *hint) noexcept {
	if (hint != nullptr && *hint != '\0') {
		Copy(captured.hint, sizeof(captured.hint), hint);
	}
}

namespace {

/* Inside PG_CATCH: undoes the hold-offs `fn` may have left (HOLD_CANCEL_INTERRUPTS around a
 * write), and takes the error out of the error state, copied into `caller_context`. */
ErrorData *
TakeError(MemoryContext caller_context, uint32 interrupt_holdoff, uint32 cancel_holdoff) {
	InterruptHoldoffCount = interrupt_holdoff;
	QueryCancelHoldoffCount = cancel_holdoff;
	MemoryContextSwitchTo(caller_context);
	ErrorData *edata = CopyErrorData();
	FlushErrorState();
	return edata;
}

} // namespace

ErrorData *
TryInSubtransactionImpl(void (*fn)(void *), void *arg) {
	MemoryContext caller_context = CurrentMemoryContext;
	ResourceOwner caller_owner = CurrentResourceOwner;
	const uint32 interrupt_holdoff = InterruptHoldoffCount;
	const uint32 cancel_holdoff = QueryCancelHoldoffCount;
	ErrorData *volatile edata = nullptr;
	BeginInternalSubTransaction(nullptr);
	MemoryContextSwitchTo(caller_context);
	PG_TRY();
	{
		fn(arg);
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		edata = TakeError(caller_context, interrupt_holdoff, cancel_holdoff);
		RollbackAndReleaseCurrentSubTransaction();
	}
	PG_END_TRY();
	MemoryContextSwitchTo(caller_context);
	CurrentResourceOwner = caller_owner;
	return edata;
}

void
PgCallImpl(void (*fn)(void *), void *arg) {
	MemoryContext caller_context = CurrentMemoryContext;
	const uint32 interrupt_holdoff = InterruptHoldoffCount;
	const uint32 cancel_holdoff = QueryCancelHoldoffCount;
	ErrorData *volatile edata = nullptr;
	PG_TRY();
	{
		fn(arg);
	}
	PG_CATCH();
	{
		edata = TakeError(caller_context, interrupt_holdoff, cancel_holdoff);
	}
	PG_END_TRY();
	if (edata != nullptr) {
		/* copy out of PostgreSQL memory before throwing */
		const int sqlstate = edata->sqlerrcode;
		std::string message = edata->message ? edata->message : "unknown error";
		if (edata->detail) {
			message += " (";
			message += edata->detail;
			message += ")";
		}
		std::string hint = edata->hint ? edata->hint : "";
		FreeErrorData(edata);
		throw PgException(sqlstate, std::move(message), std::move(hint));
	}
}

void
RaiseCaptured() {
	if (captured.hint[0] != '\0') {
		ereport(ERROR, (errcode(captured.sqlstate), errmsg("%s", captured.message), errhint("%s", captured.hint)));
	}
	ereport(ERROR, (errcode(captured.sqlstate), errmsg("%s", captured.message)));
	pg_unreachable();
}

void *
PallocNoOom(size_t size) {
	void *p = palloc_extended(size, MCXT_ALLOC_NO_OOM);
	if (p == nullptr) {
		throw std::bad_alloc();
	}
	return p;
}

char *
PStrdupNoOom(const std::string &s) {
	char *p = static_cast<char *>(PallocNoOom(s.size() + 1));
	memcpy(p, s.data(), s.size());
	p[s.size()] = '\0';
	return p;
}

} // namespace europeana::pg
