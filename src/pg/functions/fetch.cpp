/*
 * fetch.cpp — download the images of harvested records into europeana.images.
 *
 *   CALL europeana.fetch_images(max_images integer, concurrency integer)
 *
 * A procedure: candidates are read in chunks (records without a stored image, and
 * failed ones with attempts left), fetched concurrently by core/http/fetcher (curl multi
 * on this thread: per-host limits, timeouts, size cap, at most 3 redirects each checked
 * against the address policy, magic-byte sniffing), and each result is written as it
 * arrives — an image, or a recorded failure (HTTP status, reason) on that record — with a
 * commit every few results.  A failed URL never aborts the batch, nor does a result that
 * cannot be stored (each is written in a subtransaction; the failure is recorded on its
 * record instead); a cancel commits what is written before it is raised.  A second call
 * skips what is stored.  Results are written from the fetcher's callback, with the fetcher
 * alive, so every PostgreSQL call there goes through PgCall.
 */
#include "core/http/fetcher.hpp"
#include "pg/boundary.hpp"
#include "pg/guc.hpp"
#include "pg/version_check.hpp"

#include <chrono>
#include <string>
#include <vector>

extern "C" {
#include "catalog/pg_type.h"
#include "utils/memutils.h"
#include "executor/spi.h"
#include "nodes/parsenodes.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
}

namespace {

constexpr int kChunk = 256;       /* candidates read per chunk */
constexpr int kCommitEvery = 16;  /* results per commit */
constexpr std::chrono::milliseconds kCommitAfter {1000}; /* or sooner: the oldest uncommitted result's age */
constexpr int kMaxAttempts = 3;   /* a failing record is tried by at most this many calls */

struct Candidate {
	char *record_id;
	char *is_shown_by;
	char *preview_url;
};

/* Builds the thumbnail-API fallback URL for a media URL. Phase 1. */
char *
ThumbnailUrl(const char *base, const char *media_url) {
	StringInfoData buf;
	initStringInfo(&buf);
	appendStringInfo(&buf, "%s?uri=", base);
	for (const unsigned char *p = reinterpret_cast<const unsigned char *>(media_url); *p; p++) {
		if (isalnum(*p) || *p == '-' || *p == '_' || *p == '.' || *p == '~') {
			appendStringInfoChar(&buf, static_cast<char>(*p));
		} else {
			appendStringInfo(&buf, "%%%02X", *p);
		}
	}
	appendStringInfoString(&buf, "&type=IMAGE&size=w400");
	return buf.data;
}

const char *const kCandidates =
    "SELECT r.record_id, r.is_shown_by, r.preview_url FROM europeana.records AS r "
    "LEFT JOIN europeana.images AS i ON i.record_id = r.record_id "
    "WHERE r.record_id > $1 AND (i.image_id IS NULL OR (i.status <> 'stored' AND i.fetch_attempts < $2 "
    "  AND (i.fetched_at IS NULL OR i.fetched_at < $3))) "
    "  AND (r.is_shown_by IS NOT NULL OR r.preview_url IS NOT NULL) "
    "ORDER BY r.record_id LIMIT $4";

const char *const kStore =
    "INSERT INTO europeana.images AS i (record_id, source_url, content, mime_type, width, height, status, http_status, "
    "  fetch_error, fetch_attempts, fetched_at) "
    "SELECT $1, $2, $3, $4, h.width, h.height, CASE WHEN $3 IS NULL THEN 'failed' ELSE 'stored' END, $5, $6, 1, "
    "  clock_timestamp() FROM (SELECT NULL) AS x LEFT JOIN europeana.image_info($3) AS h ON true "
    "ON CONFLICT (record_id) DO UPDATE SET source_url = excluded.source_url, "
    "  content = coalesce(excluded.content, i.content), mime_type = coalesce(excluded.mime_type, i.mime_type), "
    "  width = coalesce(excluded.width, i.width), height = coalesce(excluded.height, i.height), "
    "  status = CASE WHEN excluded.content IS NULL AND i.content IS NULL THEN 'failed' ELSE 'stored' END, "
    "  http_status = excluded.http_status, fetch_error = excluded.fetch_error, "
    "  fetch_attempts = i.fetch_attempts + 1, fetched_at = excluded.fetched_at";

/* Writes one fetch result (the image, or the failure and its reason) with kStore.  PostgreSQL
 * context only (inside PgCall / a subtransaction); allocates in `scratch`, which it resets.
 * Plain pointers only: no C++ temporary may be alive when an error jumps out of it. */
void
StoreResult(MemoryContext scratch, const char *record_id, bool ok, const char *url, const char *body, size_t body_size,
            const char *mime, long http_status, const char *error) {
	MemoryContext caller = MemoryContextSwitchTo(scratch);
	Oid st[6] = {TEXTOID, TEXTOID, BYTEAOID, TEXTOID, INT4OID, TEXTOID};
	Datum sv[6];
	char sn[7] = "      ";
	sv[0] = CStringGetTextDatum(record_id);
	sv[1] = CStringGetTextDatum(url);
	if (ok) {
		bytea *content = static_cast<bytea *>(palloc(VARHDRSZ + body_size));
		SET_VARSIZE(content, VARHDRSZ + body_size);
		memcpy(VARDATA(content), body, body_size);
		sv[2] = PointerGetDatum(content);
		sv[3] = CStringGetTextDatum(mime);
		sn[5] = 'n';
		sv[5] = 0;
	} else {
		sn[2] = 'n';
		sn[3] = 'n';
		sv[2] = sv[3] = 0;
		sv[5] = CStringGetTextDatum(error);
	}
	sv[4] = Int32GetDatum(static_cast<int32>(http_status));
	if (http_status == 0) {
		sn[4] = 'n';
	}
	SPI_execute_with_args(kStore, 6, st, sv, sn, false, 0);
	MemoryContextSwitchTo(caller);
	MemoryContextReset(scratch);
}

/* Commits what is written; a cancel is not acted on inside the commit (PgCall only). */
void
CommitHoldingCancel() {
	HOLD_CANCEL_INTERRUPTS();
	SPI_commit();
	RESUME_CANCEL_INTERRUPTS();
}

} // namespace

/*
 * CALL europeana.fetch_images(...). Main thread only; commits every few results; may
 * ereport(ERROR) for bad arguments or a cancel (results written so far stay).
 */
EUROPEANA_PG_FUNCTION(europeana_fetch_images) {
	/* phase 1 */
	europeana::pg::CheckExtensionVersion();
	europeana::pg::RequireNonAtomicCall(fcinfo, "europeana.fetch_images", "It commits as it goes");
	const int32 max_images = PG_ARGISNULL(0) ? PG_INT32_MAX : PG_GETARG_INT32(0);
	const int32 concurrency = PG_ARGISNULL(1) ? 16 : PG_GETARG_INT32(1);
	if (max_images < 0 || concurrency < 1 || concurrency > 256) {
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
		                errmsg("max_images must be at least 0 and concurrency between 1 and 256"),
		                errhint("For example CALL europeana.fetch_images(1000, 16).")));
	}
	europeana::core::FetchOptions options;
	options.concurrency = concurrency;
	options.per_host = europeana::pg::guc_fetch_per_host;
	options.connect_timeout_ms = europeana::pg::guc_http_connect_timeout_ms;
	options.total_timeout_ms = europeana::pg::guc_http_timeout_ms;
	options.max_bytes = static_cast<size_t>(europeana::pg::guc_max_image_bytes);
	options.address.allow_private = europeana::pg::guc_fetch_allow_private;
	const char *thumbnail_base = europeana::pg::guc_thumbnail_url ? europeana::pg::guc_thumbnail_url : "";

	/* Outlives each chunk's SPI connection (SPI_finish frees what was palloc'd while
	 * connected, and the result tables, which SPI keeps until then). */
	MemoryContext call_cxt = CurrentMemoryContext;
	/* per-result scratch memory: image copies are freed as soon as they are written */
	MemoryContext scratch = AllocSetContextCreate(call_cxt, "europeana fetch_images result", ALLOCSET_DEFAULT_SIZES);
	const Datum call_start = TimestampTzGetDatum(GetCurrentTimestamp());
	char *last_id = pstrdup("");
	int64 done = 0, stored = 0, failed = 0;

	while (done < max_images) {
		/* one SPI connection per chunk, so that a long call does not grow by each chunk */
		SPI_connect_ext(SPI_OPT_NONATOMIC);
		/* phase 1 of each chunk: read candidates (plain SPI) */
		Oid t[4] = {TEXTOID, INT4OID, TIMESTAMPTZOID, INT4OID};
		Datum v[4] = {CStringGetTextDatum(last_id), Int32GetDatum(kMaxAttempts), call_start,
		              Int32GetDatum(static_cast<int32>(std::min<int64>(kChunk, max_images - done)))};
		SPI_execute_with_args(kCandidates, 4, t, v, nullptr, true, 0);
		const int n = static_cast<int>(SPI_processed);
		if (n == 0) {
			SPI_finish();
			break;
		}
		Candidate *cands = static_cast<Candidate *>(palloc(sizeof(Candidate) * n));
		for (int i = 0; i < n; i++) {
			HeapTuple tup = SPI_tuptable->vals[i];
			cands[i].record_id = SPI_getvalue(tup, SPI_tuptable->tupdesc, 1);
			cands[i].is_shown_by = SPI_getvalue(tup, SPI_tuptable->tupdesc, 2);
			cands[i].preview_url = SPI_getvalue(tup, SPI_tuptable->tupdesc, 3);
		}
		pfree(last_id);
		last_id = MemoryContextStrdup(call_cxt, cands[n - 1].record_id);
		char **fallbacks = static_cast<char **>(palloc(sizeof(char *) * n));
		for (int i = 0; i < n; i++) {
			fallbacks[i] = cands[i].preview_url    ? cands[i].preview_url
			               : cands[i].is_shown_by ? ThumbnailUrl(thumbnail_base, cands[i].is_shown_by)
			                                       : nullptr;
		}

		/* phase 2: fetch; results are written through PgCall as they arrive */
		{
			std::vector<europeana::core::FetchRequest> requests(n);
			for (int i = 0; i < n; i++) {
				requests[i].key = i;
				if (cands[i].is_shown_by) {
					requests[i].urls.emplace_back(cands[i].is_shown_by);
				}
				if (fallbacks[i] && (!cands[i].is_shown_by || strcmp(fallbacks[i], cands[i].is_shown_by) != 0)) {
					requests[i].urls.emplace_back(fallbacks[i]);
				}
			}
			europeana::core::Fetcher fetcher(options);
			int since_commit = 0;
			std::chrono::steady_clock::time_point first_uncommitted;
			bool cancelled = false;
			try {
				fetcher.Run(
				    requests,
				    [&](europeana::core::FetchResult &&r) {
					    const Candidate &c = cands[r.key];
					    bool kept = true;
					    europeana::pg::PgCall([&] {
						    /* Cancels are acted on by the fetcher's poll, not inside a write.  Each
						     * result is written in a subtransaction: a write that fails (a user
						     * trigger, or code that acts on a pending cancel despite the hold-off)
						     * costs only that result, and the others since the last commit stay. */
						    HOLD_CANCEL_INTERRUPTS();
						    ErrorData *error = europeana::pg::TryInSubtransaction([&] {
							    StoreResult(scratch, c.record_id, r.ok, r.url.c_str(), r.body.data(), r.body.size(),
							                r.mime.c_str(), r.http_status, r.error.c_str());
						    });
						    if (error != nullptr && !europeana::pg::StopRequested()) {
							    /* record the failure on the record instead, so that its attempts count */
							    char *reason = psprintf("could not store the image: %s", error->message);
							    FreeErrorData(error);
							    error = europeana::pg::TryInSubtransaction([&] {
								    StoreResult(scratch, c.record_id, false, r.url.c_str(), nullptr, 0, nullptr,
								                r.http_status, reason);
							    });
							    pfree(reason);
							    kept = false;
						    }
						    if (error != nullptr) {
							    /* a cancel is pending (the result is fetched again next time), or even
							     * the failure could not be recorded: keep what is written, then stop */
							    SPI_commit();
							    RESUME_CANCEL_INTERRUPTS();
							    if (!europeana::pg::StopRequested()) {
								    ReThrowError(error);
							    }
							    FreeErrorData(error);
							    kept = false;
							    return;
						    }
						    if (since_commit++ == 0) {
							    first_uncommitted = std::chrono::steady_clock::now();
						    }
						    if (since_commit >= kCommitEvery) {
							    SPI_commit();
							    since_commit = 0;
						    }
						    RESUME_CANCEL_INTERRUPTS();
					    });
					    (r.ok && kept ? stored : failed)++;
					    done++;
				    },
				    [&] {
					    if (europeana::pg::StopRequested()) {
						    return true;
					    }
					    /* called every ~100 ms while transfers wait: no transaction stays open
					     * (and no stored image invisible to the workers) for long while the
					     * network is slow */
					    if (since_commit > 0 && std::chrono::steady_clock::now() - first_uncommitted >= kCommitAfter) {
						    europeana::pg::PgCall([] { CommitHoldingCancel(); });
						    since_commit = 0;
					    }
					    return false;
				    });
			} catch (const europeana::Error &e) {
				if (e.Kind() != europeana::ErrorKind::Cancelled) {
					throw;
				}
				cancelled = true; /* what is written is committed below before the cancel is raised */
			}
			europeana::pg::PgCall([] { CommitHoldingCancel(); });
			if (cancelled) {
				throw europeana::Error(europeana::ErrorKind::Cancelled, "fetch_images cancelled");
			}
		}
		ereport(NOTICE, (errmsg("fetch_images: %lld done, %lld stored, %lld failed", static_cast<long long>(done),
		                        static_cast<long long>(stored), static_cast<long long>(failed))));
		SPI_finish();
		if (n < kChunk) {
			break;
		}
	}
	PG_RETURN_VOID();
}
