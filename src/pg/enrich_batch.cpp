/*
 * enrich_batch.cpp — one enrichment batch (see enrich_batch.hpp).
 *
 * Three statements per batch however large it is: the claim, one INSERT of every result
 * row from arrays (unnest), one DELETE of the finished queue rows; refused images add one
 * UPDATE each.
 */
#include "pg/enrich_batch.hpp"

#include "pg/datum.hpp"

#include <algorithm>
#include <chrono>
#include <vector>

extern "C" {
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
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
	int same_as; /* -1, or the earlier item of the same image (queued for the default model and by name) */
	bool ok;
	int nranked;
	Ranked ranked[kEnrichTopK];
	char *error;
	int sqlstate;
};

const char *const kClaim =
    "SELECT q.queue_id, q.image_id, i.content FROM europeana.enrichment_queue AS q "
    "JOIN europeana.images AS i ON i.image_id = q.image_id "
    "WHERE q.dead_at IS NULL AND q.next_attempt_at <= now() "
    "  AND (q.model_id = $1 OR ($3 AND q.model_id IS NULL)) AND i.content IS NOT NULL "
    "ORDER BY q.next_attempt_at, q.queue_id LIMIT $2 FOR UPDATE OF q SKIP LOCKED";

const char *const kWriteResults =
    "INSERT INTO europeana.enrichments AS e (image_id, model_id, rank, concept_id, score, label, label_score) "
    "SELECT u.image_id, $1, u.rank, c.concept_id, u.score, u.label, u.label_score "
    "FROM unnest($2::bigint[], $3::smallint[], $4::text[], $5::real[], $6::text[], $7::real[]) "
    "  AS u(image_id, rank, concept, score, label, label_score) "
    "LEFT JOIN europeana.concepts AS c ON c.name = u.concept "
    "ON CONFLICT (image_id, model_id, rank) DO UPDATE SET concept_id = excluded.concept_id, score = excluded.score, "
    "  label = excluded.label, label_score = excluded.label_score, created_at = now()";

const char *const kDeleteDone = "DELETE FROM europeana.enrichment_queue WHERE queue_id = ANY($1::bigint[])";

const char *const kRecordFailure =
    "UPDATE europeana.enrichment_queue SET attempts = attempts + 1, last_error = $2, last_sqlstate = $3, "
    "  next_attempt_at = now() + least(interval '1 hour', interval '5 seconds' * power(2, attempts)), "
    "  dead_at = CASE WHEN attempts + 1 >= $4 THEN now() END "
    "WHERE queue_id = $1";

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

/* Phase 2: classify, falling back to one image at a time when the batch as a whole fails
 * (e.g. memory) so that only the image that causes it is refused. */
void
Classify(const char *model, const core::ClassifierSettings &settings, int decode_threads, const Datum *contents, int n,
         ItemResult *results, double *fetch_ms) {
	std::vector<core::BatchItem> items;
	items.reserve(n);
	for (int i = 0; i < n; i++) {
		if (results[i].same_as < 0) { /* an image claimed twice in one batch is classified once */
			core::BatchItem item;
			item.key = i;
			items.push_back(item);
		}
	}
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
			*fetch_ms += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
		}
		return AsBytes(detoasted[i]);
	};
	const core::ShouldStop stop = [] { return StopRequested(); };
	std::vector<core::BatchOutcome> outcomes;
	try {
		outcomes = core::ClassifyBatch(items, model, settings, decode_threads, stop, fetch);
	} catch (const Error &e) {
		if (e.Kind() != ErrorKind::Internal && e.Kind() != ErrorKind::ResourceLimit) {
			/* cancelled, or the model or device is unusable: not the images' fault, so
			 * nothing is recorded on them */
			throw;
		}
		outcomes.clear();
		for (size_t k = 0; k < items.size(); k++) {
			core::BatchItem item = items[k];
			try {
				item.image = fetch(k);
				auto single = core::ClassifyBatch({item}, model, settings, 1, stop);
				outcomes.push_back(std::move(single[0]));
			} catch (const Error &one) {
				if (one.Kind() == ErrorKind::Cancelled) {
					throw;
				}
				core::BatchOutcome failed;
				failed.key = item.key;
				failed.error_kind = one.Kind();
				failed.error = one.what();
				outcomes.push_back(std::move(failed));
			}
		}
	}
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
	Oid ct[3] = {INT4OID, INT4OID, BOOLOID};
	Datum cv[3] = {Int32GetDatum(target.model_id), Int32GetDatum(limit), BoolGetDatum(target.take_default_rows)};
	SPI_execute_with_args(kClaim, 3, ct, cv, nullptr, false, 0);
	const int n = static_cast<int>(SPI_processed);
	out.claimed = n;
	out.claim_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - claim_started).count();
	if (n == 0) {
		return out;
	}
	ItemResult *results = static_cast<ItemResult *>(palloc0(sizeof(ItemResult) * n));
	Datum *contents = static_cast<Datum *>(palloc(sizeof(Datum) * n));
	bool isnull;
	for (int i = 0; i < n; i++) {
		HeapTuple row = SPI_tuptable->vals[i];
		results[i].queue_id = DatumGetInt64(SPI_getbinval(row, SPI_tuptable->tupdesc, 1, &isnull));
		results[i].image_id = DatumGetInt64(SPI_getbinval(row, SPI_tuptable->tupdesc, 2, &isnull));
		results[i].same_as = -1;
		for (int j = 0; j < i && results[i].same_as < 0; j++) {
			if (results[j].image_id == results[i].image_id) {
				results[i].same_as = j;
			}
		}
		/* still TOASTed: detoasted one by one in phase 2, while the threads decode */
		contents[i] = SPI_getbinval(row, SPI_tuptable->tupdesc, 3, &isnull);
	}

	/* phase 2: C++ only */
	{
		const auto started = std::chrono::steady_clock::now();
		Classify(target.model, settings, decode_threads, contents, n, results, &out.fetch_ms);
		out.classify_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
	}

	/* phase 3: results and queue in the caller's transaction */
	const auto write_started = std::chrono::steady_clock::now();
	Datum *r_image = static_cast<Datum *>(palloc(sizeof(Datum) * n * kEnrichTopK));
	Datum *r_rank = static_cast<Datum *>(palloc(sizeof(Datum) * n * kEnrichTopK));
	Datum *r_concept = static_cast<Datum *>(palloc0(sizeof(Datum) * n * kEnrichTopK));
	bool *r_concept_null = static_cast<bool *>(palloc0(sizeof(bool) * n * kEnrichTopK));
	Datum *r_score = static_cast<Datum *>(palloc(sizeof(Datum) * n * kEnrichTopK));
	Datum *r_label = static_cast<Datum *>(palloc(sizeof(Datum) * n * kEnrichTopK));
	Datum *r_label_score = static_cast<Datum *>(palloc(sizeof(Datum) * n * kEnrichTopK));
	Datum *done = static_cast<Datum *>(palloc(sizeof(Datum) * n));
	int rows = 0, ndone = 0;
	for (int i = 0; i < n; i++) {
		const ItemResult &r = results[i];
		if (!r.ok) {
			Oid ft[4] = {INT8OID, TEXTOID, TEXTOID, INT4OID};
			Datum fv[4] = {Int64GetDatum(r.queue_id), CStringGetTextDatum(r.error),
			               CStringGetTextDatum(unpack_sql_state(r.sqlstate)), Int32GetDatum(kEnrichMaxAttempts)};
			SPI_execute_with_args(kRecordFailure, 4, ft, fv, nullptr, false, 0);
			out.refused += r.same_as < 0 ? 1 : 0;
			continue;
		}
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
		done[ndone++] = Int64GetDatum(r.queue_id);
		out.enriched += r.same_as < 0 ? 1 : 0;
	}
	if (rows > 0) {
		Oid wt[7] = {INT4OID, INT8ARRAYOID, INT2ARRAYOID, TEXTARRAYOID, FLOAT4ARRAYOID, TEXTARRAYOID, FLOAT4ARRAYOID};
		Datum wv[7] = {Int32GetDatum(target.model_id),
		               MakeArray(r_image, nullptr, rows, INT8OID),
		               MakeArray(r_rank, nullptr, rows, INT2OID),
		               MakeArray(r_concept, r_concept_null, rows, TEXTOID),
		               MakeArray(r_score, nullptr, rows, FLOAT4OID),
		               MakeArray(r_label, nullptr, rows, TEXTOID),
		               MakeArray(r_label_score, nullptr, rows, FLOAT4OID)};
		SPI_execute_with_args(kWriteResults, 7, wt, wv, nullptr, false, 0);
	}
	if (ndone > 0) {
		Oid dt[1] = {INT8ARRAYOID};
		Datum dv[1] = {MakeArray(done, nullptr, ndone, INT8OID)};
		SPI_execute_with_args(kDeleteDone, 1, dt, dv, nullptr, false, 0);
	}
	out.write_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - write_started).count();
	return out;
}

} // namespace europeana::pg
