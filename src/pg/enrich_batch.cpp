/*
 * enrich_batch.cpp — enrichment batches (see enrich_batch.hpp).
 *
 * Three statements per batch however large it is: the claim, one INSERT of every result
 * row from arrays (unnest), one DELETE of the finished queue rows; refused images add one
 * UPDATE each.
 */
#include "pg/enrich_batch.hpp"
#include "pg/guc.hpp"

#include "pg/bgworker/shared.hpp"
#include "pg/datum.hpp"

#include <algorithm>
#include <chrono>
#include <functional>
#include <vector>

extern "C" {
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
}

namespace europeana::pg {

namespace {

struct Ranked {
	char *concept; /* NULL: none of the vocabulary */
	float score;
	char *label;
	float label_score;
};

struct ItemResult {
	int64 queue_id;
	int64 image_id;
	int64 xmin; /* of the queue row when claimed */
	int same_as; /* -1, or the earlier item of the same image (queued for the default model and by name) */
	bool ok;
	int nranked;
	Ranked ranked[kEnrichTopK];
	char *error;
	int sqlstate;
};

double
MsSince(std::chrono::steady_clock::time_point t) {
	return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

/* The image row is locked too, FOR SHARE: when the queue row was re-queued by a content
 * update that committed after this statement's snapshot, FOR UPDATE follows the queue row to
 * its latest version, and the lock on the image, which conflicts with that update, makes the
 * recheck read the image's latest version as well, not the content it replaced.  (FOR KEY
 * SHARE does not conflict with an update of non-key columns: PostgreSQL then locks the old
 * version without a recheck, and the batch classified the replaced bytes and deleted the new
 * queue row; the workers' replacement test caught 16 of 800 images so.)  A content update of
 * an image in a batch being classified waits for the batch's transaction, as the replacement
 * trigger does for its queue row; the claim skips images whose update is in progress. */
const char *const kClaim =
    "SELECT q.queue_id, q.image_id, i.content, q.xmin::text::bigint FROM europeana.enrichment_queue AS q "
    "JOIN europeana.images AS i ON i.image_id = q.image_id "
    "WHERE q.dead_at IS NULL AND q.next_attempt_at <= now() "
    "  AND (q.model_id = $1 OR ($3 AND q.model_id IS NULL)) AND i.content IS NOT NULL "
    "  AND q.queue_id <> ALL($4::bigint[]) "
    "ORDER BY q.next_attempt_at, q.queue_id LIMIT $2 FOR UPDATE OF q SKIP LOCKED FOR SHARE OF i SKIP LOCKED";

const char *const kWriteResults =
    "INSERT INTO europeana.enrichments AS e (image_id, model_id, rank, concept_id, score, label, label_score) "
    "SELECT u.image_id, $1, u.rank, c.concept_id, u.score, u.label, u.label_score "
    "FROM unnest($2::bigint[], $3::smallint[], $4::text[], $5::real[], $6::text[], $7::real[]) "
    "  AS u(image_id, rank, concept, score, label, label_score) "
    "LEFT JOIN europeana.concepts AS c ON c.name = u.concept "
    "ON CONFLICT (image_id, model_id, rank) DO UPDATE SET concept_id = excluded.concept_id, score = excluded.score, "
    "  label = excluded.label, label_score = excluded.label_score, created_at = now()";

const char *const kDeleteDone = "DELETE FROM europeana.enrichment_queue WHERE queue_id = ANY($1::bigint[])";

/* detached batches: only rows unchanged since the claim */
const char *const kDeleteUnchanged =
    "DELETE FROM europeana.enrichment_queue AS q USING unnest($1::bigint[], $2::bigint[]) AS u(id, x) "
    "WHERE q.queue_id = u.id AND q.xmin = u.x::text::xid RETURNING q.queue_id";

const char *const kRecordFailure =
    "UPDATE europeana.enrichment_queue SET attempts = attempts + 1, last_error = $2, last_sqlstate = $3, "
    "  next_attempt_at = now() + least(interval '1 hour', interval '5 seconds' * power(2, attempts)), "
    "  dead_at = CASE WHEN attempts + 1 >= $4 THEN now() END "
    "WHERE queue_id = $1 AND ($5::bigint IS NULL OR xmin = $5::text::xid)";

/* Copies one core outcome into palloc'd POD (phase 2). */
void
CopyOutcome(const core::BatchOutcome &o, ItemResult *r) {
	r->ok = o.ok;
	if (o.ok) {
		r->nranked = static_cast<int>(std::min<size_t>(o.result.ranked.size(), kEnrichTopK));
		for (int k = 0; k < r->nranked; k++) {
			const auto &rc = o.result.ranked[k];
			r->ranked[k].concept = rc.concept.empty() ? nullptr : PStrdupNoOom(rc.concept);
			r->ranked[k].score = rc.score;
			r->ranked[k].label = PStrdupNoOom(rc.top_label);
			r->ranked[k].label_score = rc.top_label_score;
		}
	} else {
		r->error = PStrdupNoOom(o.error);
		r->sqlstate = SqlstateOf(o.error_kind);
	}
}

/* Phase 2: the outcomes into the results; an image claimed twice in one batch shares its
 * first item's outcome. */
void
CopyOutcomes(const std::vector<core::BatchOutcome> &outcomes, ItemResult *results, int n) {
	for (const auto &o : outcomes) {
		CopyOutcome(o, &results[o.key]);
	}
	for (int i = 0; i < n; i++) {
		if (results[i].same_as >= 0) {
			const ItemResult &first = results[results[i].same_as];
			results[i].ok = first.ok;
			results[i].nranked = 0; /* its results are written once, with the first */
			results[i].error = first.error;
			results[i].sqlstate = first.sqlstate;
		}
	}
}

/* A one-dimensional array of `n` datums of `type` (phase 1/3). */
Datum
MakeArray(Datum *values, bool *nulls, int n, Oid type) {
	int16 typlen;
	bool typbyval;
	char typalign;
	get_typlenbyvalalign(type, &typlen, &typbyval, &typalign);
	int dims[1] = {n};
	int lbs[1] = {1};
	return PointerGetDatum(construct_md_array(values, nulls, 1, dims, lbs, type, typlen, typbyval, typalign));
}

/*
 * Runs the claim query and drops the rows that a pipelined worker has published (checked
 * again after locking: one may have been published between building the exclusion list
 * and the lock).  With publish, this worker publishes the rows it keeps.  Fills keep[]
 * (allocated by the caller in `cxt`, SPI_processed long) and returns the rows kept; the
 * rows stay in SPI_tuptable.
 */
int
ClaimRows(const EnrichTarget &target, int limit, bool publish, MemoryContext cxt, bool **keep,
          int64 *volatile *claimed = nullptr, volatile int *nclaimed = nullptr) {
	Oid ct[4] = {INT4OID, INT4OID, BOOLOID, INT8ARRAYOID};
	Datum cv[4] = {Int32GetDatum(target.model_id), Int32GetDatum(limit), BoolGetDatum(target.take_default_rows),
	               PublishedClaims()};
	SPI_execute_with_args(kClaim, 4, ct, cv, nullptr, false, 0);
	const int n = static_cast<int>(SPI_processed);
	*keep = static_cast<bool *>(MemoryContextAlloc(cxt, sizeof(bool) * std::max(n, 1)));
	if (n == 0) {
		return 0;
	}
	int64 *ids = static_cast<int64 *>(MemoryContextAlloc(cxt, sizeof(int64) * n));
	bool isnull;
	for (int i = 0; i < n; i++) {
		ids[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
	}
	if (claimed != nullptr) { /* before publishing: the caller's error path withdraws them */
		*claimed = ids;
		*nclaimed = n;
	}
	return FilterClaims(ids, n, *keep, publish);
}

/* Fills the ids of the kept claimed rows into results (allocated for `kept` items). */
void
ReadClaimedRows(const bool *keep, ItemResult *results, Datum *contents) {
	const int rows = static_cast<int>(SPI_processed);
	bool isnull;
	int n = 0;
	for (int row = 0; row < rows; row++) {
		if (!keep[row]) {
			continue;
		}
		HeapTuple tuple = SPI_tuptable->vals[row];
		ItemResult &r = results[n];
		r.queue_id = DatumGetInt64(SPI_getbinval(tuple, SPI_tuptable->tupdesc, 1, &isnull));
		r.image_id = DatumGetInt64(SPI_getbinval(tuple, SPI_tuptable->tupdesc, 2, &isnull));
		r.xmin = DatumGetInt64(SPI_getbinval(tuple, SPI_tuptable->tupdesc, 4, &isnull));
		r.same_as = -1;
		for (int j = 0; j < n && r.same_as < 0; j++) {
			if (results[j].image_id == r.image_id) {
				r.same_as = j;
			}
		}
		/* still TOASTed */
		contents[n] = SPI_getbinval(tuple, SPI_tuptable->tupdesc, 3, &isnull);
		n++;
	}
}

std::vector<core::BatchItem>
ItemsToClassify(const ItemResult *results, int n) {
	std::vector<core::BatchItem> items;
	items.reserve(n);
	for (int i = 0; i < n; i++) {
		if (results[i].same_as < 0) { /* an image claimed twice in one batch is classified once */
			core::BatchItem item;
			item.key = i;
			items.push_back(item);
		}
	}
	return items;
}

/* Phase 2 of RunEnrichBatch: classify, with the images detoasted on this thread one by
 * one while the decode threads work. */
void
Classify(const char *model, const core::ClassifierSettings &settings, int decode_threads, const Datum *contents, int n,
         ItemResult *results, double *fetch_ms) {
	const std::vector<core::BatchItem> items = ItemsToClassify(results, n);
	/* Detoasting reads PostgreSQL, so it happens here on the main thread, item after item,
	 * under PgCall (an error becomes a C++ exception that joins the decode threads). */
	std::vector<bytea *> detoasted(n, nullptr);
	const core::FetchImage fetch = [&](size_t k) -> core::ByteView {
		const int i = static_cast<int>(items[k].key);
		if (detoasted[i] == nullptr) {
			const auto started = std::chrono::steady_clock::now();
			bytea *b = nullptr;
			PgCall([&] { b = DatumGetByteaPP(contents[i]); });
			detoasted[i] = b;
			*fetch_ms += MsSince(started);
		}
		return AsBytes(detoasted[i]);
	};
	const core::ShouldStop stop = [] { return StopRequested(); };
	CopyOutcomes(core::ClassifyBatchOrEach(items, model, settings, decode_threads, stop, fetch), results, n);
}

/* Phase 3: records the refused images and writes the results.  With check_xmin (detached
 * batches) only queue rows unchanged since the claim are settled. */
void
WriteResults(int32 model_id, ItemResult *results, int n, bool check_xmin, EnrichBatchResult *out) {
	const auto write_started = std::chrono::steady_clock::now();
	Datum *done = static_cast<Datum *>(palloc(sizeof(Datum) * n));
	Datum *done_xmin = static_cast<Datum *>(palloc(sizeof(Datum) * n));
	bool *settled = static_cast<bool *>(palloc0(sizeof(bool) * n));
	int ndone = 0;
	for (int i = 0; i < n; i++) {
		const ItemResult &r = results[i];
		if (!r.ok) {
			Oid ft[5] = {INT8OID, TEXTOID, TEXTOID, INT4OID, INT8OID};
			Datum fv[5] = {Int64GetDatum(r.queue_id), CStringGetTextDatum(r.error),
			               CStringGetTextDatum(unpack_sql_state(r.sqlstate)), Int32GetDatum(guc_enrich_max_attempts),
			               Int64GetDatum(r.xmin)};
			const char fnulls[6] = {' ', ' ', ' ', ' ', check_xmin ? ' ' : 'n', '\0'};
			SPI_execute_with_args(kRecordFailure, 5, ft, fv, fnulls, false, 0);
			if (SPI_processed == 0) {
				out->stale++;
			} else {
				out->refused += r.same_as < 0 ? 1 : 0;
			}
			continue;
		}
		done[ndone] = Int64GetDatum(r.queue_id);
		done_xmin[ndone] = Int64GetDatum(r.xmin);
		ndone++;
		settled[i] = !check_xmin;
	}
	if (ndone > 0 && check_xmin) {
		Oid dt[2] = {INT8ARRAYOID, INT8ARRAYOID};
		Datum dv[2] = {MakeArray(done, nullptr, ndone, INT8OID), MakeArray(done_xmin, nullptr, ndone, INT8OID)};
		SPI_execute_with_args(kDeleteUnchanged, 2, dt, dv, nullptr, false, 0);
		bool isnull;
		for (uint64 row = 0; row < SPI_processed; row++) {
			const int64 id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, 1, &isnull));
			for (int i = 0; i < n; i++) {
				if (results[i].queue_id == id) {
					settled[i] = true;
					break;
				}
			}
		}
		for (int i = 0; i < n; i++) {
			if (results[i].ok && !settled[i]) {
				out->stale++;
			}
		}
	}

	/* an image's results: written when one of its rows in this batch was settled */
	Datum *r_image = static_cast<Datum *>(palloc(sizeof(Datum) * n * kEnrichTopK));
	Datum *r_rank = static_cast<Datum *>(palloc(sizeof(Datum) * n * kEnrichTopK));
	Datum *r_concept = static_cast<Datum *>(palloc0(sizeof(Datum) * n * kEnrichTopK));
	bool *r_concept_null = static_cast<bool *>(palloc0(sizeof(bool) * n * kEnrichTopK));
	Datum *r_score = static_cast<Datum *>(palloc(sizeof(Datum) * n * kEnrichTopK));
	Datum *r_label = static_cast<Datum *>(palloc(sizeof(Datum) * n * kEnrichTopK));
	Datum *r_label_score = static_cast<Datum *>(palloc(sizeof(Datum) * n * kEnrichTopK));
	int rows = 0;
	for (int i = 0; i < n; i++) {
		const ItemResult &r = results[i];
		if (!r.ok || r.same_as >= 0) {
			continue;
		}
		bool write = settled[i];
		for (int j = i + 1; j < n && !write; j++) {
			write = results[j].same_as == i && settled[j];
		}
		if (!write) {
			continue;
		}
		out->enriched++;
		for (int k = 0; k < r.nranked; k++) {
			r_image[rows] = Int64GetDatum(r.image_id);
			r_rank[rows] = Int16GetDatum(static_cast<int16>(k + 1));
			if (r.ranked[k].concept != nullptr) {
				r_concept[rows] = CStringGetTextDatum(r.ranked[k].concept);
			} else {
				r_concept_null[rows] = true;
			}
			r_score[rows] = Float4GetDatum(r.ranked[k].score);
			r_label[rows] = CStringGetTextDatum(r.ranked[k].label);
			r_label_score[rows] = Float4GetDatum(r.ranked[k].label_score);
			rows++;
		}
	}
	if (rows > 0) {
		Oid wt[7] = {INT4OID, INT8ARRAYOID, INT2ARRAYOID, TEXTARRAYOID, FLOAT4ARRAYOID, TEXTARRAYOID, FLOAT4ARRAYOID};
		Datum wv[7] = {Int32GetDatum(model_id),
		               MakeArray(r_image, nullptr, rows, INT8OID),
		               MakeArray(r_rank, nullptr, rows, INT2OID),
		               MakeArray(r_concept, r_concept_null, rows, TEXTOID),
		               MakeArray(r_score, nullptr, rows, FLOAT4OID),
		               MakeArray(r_label, nullptr, rows, TEXTOID),
		               MakeArray(r_label_score, nullptr, rows, FLOAT4OID)};
		SPI_execute_with_args(kWriteResults, 7, wt, wv, nullptr, false, 0);
	}
	if (ndone > 0 && !check_xmin) {
		Oid dt[1] = {INT8ARRAYOID};
		Datum dv[1] = {MakeArray(done, nullptr, ndone, INT8OID)};
		SPI_execute_with_args(kDeleteDone, 1, dt, dv, nullptr, false, 0);
	}
	out->write_ms = MsSince(write_started);
}

/* Whether an error in writing a batch can come from one row of it (a user trigger on
 * enrichments or the queue, a constraint, bad data), so that writing the rows one by one
 * finds the culprit.  Not: what every row would meet (resources, cancel and shutdown,
 * I/O, serialization and deadlocks, privileges and configuration): the batch fails and
 * is retried whole. */
bool
RowAttributable(int sqlerrcode) {
	switch (ERRCODE_TO_CATEGORY(sqlerrcode)) {
	case ERRCODE_TRIGGERED_ACTION_EXCEPTION:       /* 09 */
	case ERRCODE_DATA_EXCEPTION:                   /* 22 */
	case ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION:   /* 23 */
	case ERRCODE_TRIGGERED_DATA_CHANGE_VIOLATION:  /* 27 */
	case ERRCODE_SQL_ROUTINE_EXCEPTION:            /* 2F */
	case ERRCODE_EXTERNAL_ROUTINE_EXCEPTION:       /* 38 */
	case ERRCODE_EXTERNAL_ROUTINE_INVOCATION_EXCEPTION: /* 39 */
	case ERRCODE_WITH_CHECK_OPTION_VIOLATION:      /* 44 */
	case ERRCODE_PLPGSQL_ERROR:                    /* P0: RAISE EXCEPTION */
		return true;
	default:
		return false;
	}
}

/* e itself when one row can have caused it and no cancel or shutdown is pending;
 * otherwise raises it (the batch fails and is retried whole). */
ErrorData *
RowErrorOrRaise(ErrorData *e) {
	if (!RowAttributable(e->sqlerrcode) || StopRequested()) {
		ReThrowError(e);
	}
	return e;
}

const char *
MessageOf(const ErrorData *e) {
	return e->message != nullptr ? e->message : "error without a message";
}

/* The rows of images [lo, hi) of `first` (each image's first row in the batch), its
 * duplicates after it, as a batch of their own (same_as re-indexed); returns the count. */
int
GroupRows(const ItemResult *results, int n, const int *first, int lo, int hi, ItemResult *into) {
	int m = 0;
	for (int g = lo; g < hi; g++) {
		const int i = first[g];
		const int at = m;
		into[m] = results[i];
		into[m++].same_as = -1;
		for (int j = i + 1; j < n; j++) {
			if (results[j].same_as == i) {
				into[m] = results[j];
				into[m++].same_as = at;
			}
		}
	}
	return m;
}

/* Adds the counts of a part of a batch written on its own. */
void
AddCounts(const EnrichBatchResult &part, EnrichBatchResult *out) {
	out->enriched += part.enriched;
	out->refused += part.refused;
	out->stale += part.stale;
}

/* Phase 3, with a bad row isolated: the batch is written in a subtransaction; when that
 * fails with an error a row can cause, its images are written by halves, each in a
 * subtransaction of its own, down to the image that fails alone (a bad image of 256 costs
 * ~16 subtransactions, not 256).  Each image that fails alone is recorded as refused with
 * its error (attempts, dead-lettered after europeana.enrich_max_attempts) and the others
 * are written; so is the image of a one-image batch.  When no image of a larger batch can
 * be written (a trigger that refuses everything, a constraint every row breaks) the error
 * is raised instead: it is no row's fault, and blaming each would dead-letter the whole
 * queue.  Any other error fails the batch too; the batch is retried whole. */
void
WriteResultsIsolating(int32 model_id, ItemResult *results, int n, bool check_xmin, EnrichBatchResult *out) {
	const auto started = std::chrono::steady_clock::now();
	EnrichBatchResult whole = *out;
	ErrorData *error = TryInSubtransaction([&] { WriteResults(model_id, results, n, check_xmin, &whole); });
	if (error == nullptr) {
		*out = whole;
		return;
	}
	RowErrorOrRaise(error);
	int *first = static_cast<int *>(palloc(sizeof(int) * n));
	int groups = 0;
	for (int i = 0; i < n; i++) {
		if (results[i].same_as < 0) {
			first[groups++] = i;
		}
	}
	ErrorData **failed = static_cast<ErrorData **>(palloc0(sizeof(ErrorData *) * std::max(groups, 1)));
	ItemResult *rows = static_cast<ItemResult *>(palloc(sizeof(ItemResult) * n));
	int written = 0;
	/* writes the images [lo, hi), split in halves while a part fails */
	const std::function<void(int, int)> write = [&](int lo, int hi) {
		const int m = GroupRows(results, n, first, lo, hi, rows);
		EnrichBatchResult part;
		ErrorData *e = TryInSubtransaction([&] { WriteResults(model_id, rows, m, check_xmin, &part); });
		if (e == nullptr) {
			AddCounts(part, out);
			written += hi - lo;
			return;
		}
		RowErrorOrRaise(e);
		if (hi - lo == 1) {
			failed[lo] = e;
			return;
		}
		FreeErrorData(e);
		const int mid = lo + (hi - lo) / 2;
		write(lo, mid);
		write(mid, hi);
	};
	if (groups == 1) {
		failed[0] = error; /* a batch of one image: the error is that image's */
	} else {
		const int mid = groups / 2; /* the whole batch failed already */
		write(0, mid);
		write(mid, groups);
		if (written == 0) {
			ReThrowError(error);
		}
		FreeErrorData(error);
	}
	for (int g = 0; g < groups; g++) {
		if (failed[g] == nullptr) {
			continue;
		}
		const ErrorData *e = failed[g];
		const char *message = MessageOf(e);
		ereport(WARNING, (errcode(e->sqlerrcode),
		                  errmsg("the results of image %lld could not be written: %s",
		                         static_cast<long long>(results[first[g]].image_id), message),
		                  errhint("The image is recorded as refused in europeana.enrichment_queue and retried "
		                          "with backoff; the rest of its batch was written.")));
		const int m = GroupRows(results, n, first, g, g + 1, rows);
		for (int k = 0; k < m; k++) {
			rows[k].ok = false;
			rows[k].error = pstrdup(message);
			rows[k].sqlstate = e->sqlerrcode;
		}
		EnrichBatchResult part;
		ErrorData *record_error =
		    TryInSubtransaction([&] { WriteResults(model_id, rows, m, check_xmin, &part); }); /* the refusal */
		if (record_error != nullptr) {
			RowErrorOrRaise(record_error);
			/* its queue row refuses the update too (a trigger on the queue): it stays queued */
			ereport(WARNING, (errcode(record_error->sqlerrcode),
			                  errmsg("the refusal of image %lld could not be recorded: %s",
			                         static_cast<long long>(results[first[g]].image_id), MessageOf(record_error)),
			                  errhint("Its queue row stays as it was; this process leaves it out of its claims "
			                          "for a few minutes.")));
			FreeErrorData(record_error);
			for (int k = 0; k < m; k++) {
				ParkQueueRow(rows[k].queue_id);
			}
			out->stale += m;
			continue;
		}
		AddCounts(part, out);
	}
	out->write_ms = MsSince(started);
}

} // namespace

int32
RegisterModelId(const char *model) {
	Oid t[1] = {TEXTOID};
	Datum v[1] = {CStringGetTextDatum(model)};
	SPI_execute_with_args("SELECT (europeana.register_model($1)).model_id", 1, t, v, nullptr, false, 1);
	bool isnull = true;
	const Datum id = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return DatumGetInt32(id);
}

EnrichBatchResult
RunEnrichBatch(const EnrichTarget &target, int limit, const core::ClassifierSettings &settings, int decode_threads) {
	EnrichBatchResult out;

	/* phase 1: claim */
	const auto claim_started = std::chrono::steady_clock::now();
	bool *keep = nullptr;
	const int n = ClaimRows(target, limit, false, CurrentMemoryContext, &keep);
	out.claimed = n;
	if (n == 0) {
		out.claim_ms = MsSince(claim_started);
		return out;
	}
	ItemResult *results = static_cast<ItemResult *>(palloc0(sizeof(ItemResult) * n));
	Datum *contents = static_cast<Datum *>(palloc(sizeof(Datum) * n));
	ReadClaimedRows(keep, results, contents);
	out.claim_ms = MsSince(claim_started);

	/* phase 2: C++ only */
	{
		const auto started = std::chrono::steady_clock::now();
		Classify(target.model, settings, decode_threads, contents, n, results, &out.fetch_ms);
		out.classify_ms = MsSince(started);
	}

	/* phase 3: results and queue in the caller's transaction */
	WriteResultsIsolating(target.model_id, results, n, false, &out);
	return out;
}

struct DetachedBatch {
	MemoryContext cxt;
	char *model;
	int32 model_id;
	int n;
	ItemResult *results;
	bytea **images; /* copies, in cxt */
	int64 *queue_ids;
	double claim_ms;
};

DetachedBatch *
ClaimDetachedBatch(const EnrichTarget &target, int limit) {
	const auto started = std::chrono::steady_clock::now();
	MemoryContext cxt = AllocSetContextCreate(TopMemoryContext, "europeana batch", ALLOCSET_DEFAULT_SIZES);
	DetachedBatch *volatile b = nullptr;
	int64 *volatile claimed = nullptr; /* ids this call may have published */
	volatile int nclaimed = 0;
	const MemoryContext caller_cxt = CurrentMemoryContext;
	PG_TRY();
	{
		bool *keep = nullptr;
		const int n = ClaimRows(target, limit, true, cxt, &keep, &claimed, &nclaimed);
		if (n > 0) {
			DetachedBatch *nb = static_cast<DetachedBatch *>(MemoryContextAllocZero(cxt, sizeof(DetachedBatch)));
			nb->cxt = cxt;
			nb->model = MemoryContextStrdup(cxt, target.model);
			nb->model_id = target.model_id;
			nb->n = n;
			nb->results = static_cast<ItemResult *>(MemoryContextAllocZero(cxt, sizeof(ItemResult) * n));
			nb->images = static_cast<bytea **>(MemoryContextAllocZero(cxt, sizeof(bytea *) * n));
			nb->queue_ids = static_cast<int64 *>(MemoryContextAlloc(cxt, sizeof(int64) * n));
			Datum *contents = static_cast<Datum *>(palloc(sizeof(Datum) * n));
			ReadClaimedRows(keep, nb->results, contents);
			for (int i = 0; i < n; i++) {
				nb->queue_ids[i] = nb->results[i].queue_id;
			}
			b = nb;
			const MemoryContext old = MemoryContextSwitchTo(cxt);
			for (int i = 0; i < n; i++) {
				if (nb->results[i].same_as < 0) {
					nb->images[i] = DatumGetByteaPCopy(contents[i]);
				}
			}
			MemoryContextSwitchTo(old);
			nb->claim_ms = MsSince(started);
		}
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(caller_cxt);
		if (claimed != nullptr) {
			ReleaseClaims(claimed, nclaimed); /* only this worker's own are withdrawn */
		}
		MemoryContextDelete(cxt);
		PG_RE_THROW();
	}
	PG_END_TRY();
	if (b == nullptr) {
		MemoryContextDelete(cxt);
	}
	return b;
}

std::vector<core::BatchItem>
DetachedBatchItems(const DetachedBatch *batch) {
	std::vector<core::BatchItem> items = ItemsToClassify(batch->results, batch->n);
	for (core::BatchItem &item : items) {
		item.image = AsBytes(batch->images[item.key]);
	}
	return items;
}

const char *
DetachedBatchModel(const DetachedBatch *batch) {
	return batch->model;
}

void
SetDetachedOutcomes(DetachedBatch *batch, const std::vector<core::BatchOutcome> &outcomes) {
	const MemoryContext old = MemoryContextSwitchTo(batch->cxt);
	try {
		CopyOutcomes(outcomes, batch->results, batch->n);
	} catch (...) {
		MemoryContextSwitchTo(old);
		throw;
	}
	MemoryContextSwitchTo(old);
}

EnrichBatchResult
WriteDetachedBatch(DetachedBatch *batch) {
	EnrichBatchResult out;
	out.claimed = batch->n;
	out.claim_ms = batch->claim_ms;
	WriteResultsIsolating(batch->model_id, batch->results, batch->n, true, &out);
	return out;
}

void
ReleaseDetachedBatch(DetachedBatch *batch) {
	if (batch == nullptr) {
		return;
	}
	ReleaseClaims(batch->queue_ids, batch->n);
	MemoryContextDelete(batch->cxt);
}

} // namespace europeana::pg
