/*
 * enrich.cpp — process the enrichment queue in the calling backend.
 *
 *   CALL europeana.enrich(max_images integer, batch_size integer, model text)
 *
 * Each batch is one transaction: claim queue rows with FOR UPDATE SKIP LOCKED (so
 * several sessions or workers share the queue without overlap), classify the batch
 * (core ClassifyBatch: parallel decode on threads that never call PostgreSQL, one
 * forward), write the top concepts with provenance and delete the successful queue rows,
 * record each refused image on its queue row (attempts, error, SQLSTATE, next attempt with
 * exponential backoff, dead-lettered after kMaxAttempts), commit.  A crash before the
 * commit leaves the rows queued; results and deletion commit together, so nothing is lost
 * and nothing is written twice.  Interrupts are checked between batches.
 */
#include "core/classify/classifier.hpp"
#include "pg/boundary.hpp"
#include "pg/datum.hpp"
#include "pg/guc.hpp"
#include "pg/version_check.hpp"

#include <algorithm>
#include <thread>
#include <vector>

extern "C" {
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "nodes/parsenodes.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
}

namespace {

constexpr int kTopK = 3;
constexpr int kMaxAttempts = 5;

struct Ranked {
	char *concept; /* NULL: none of the vocabulary */
	float score;
	char *label;
	float label_score;
};

struct ItemResult {
	int64 image_id;
	bool ok;
	int nranked;
	Ranked ranked[kTopK];
	char *error;
	int sqlstate;
};

const char *const kClaim =
    "SELECT q.image_id, i.content FROM europeana.enrichment_queue AS q "
    "JOIN europeana.images AS i ON i.image_id = q.image_id "
    "WHERE q.dead_at IS NULL AND q.next_attempt_at <= now() AND (q.model_id IS NULL OR q.model_id = $1) "
    "  AND i.content IS NOT NULL "
    "ORDER BY q.next_attempt_at, q.image_id LIMIT $2 FOR UPDATE OF q SKIP LOCKED";

const char *const kWriteResult =
    "INSERT INTO europeana.enrichments AS e (image_id, model_id, rank, concept_id, score, label, label_score) "
    "VALUES ($1, $2, $3, (SELECT concept_id FROM europeana.concepts WHERE name = $4), $5, $6, $7) "
    "ON CONFLICT (image_id, model_id, rank) DO UPDATE SET concept_id = excluded.concept_id, score = excluded.score, "
    "  label = excluded.label, label_score = excluded.label_score, created_at = now()";

const char *const kRecordFailure =
    "UPDATE europeana.enrichment_queue SET attempts = attempts + 1, last_error = $2, last_sqlstate = $3, "
    "  next_attempt_at = now() + least(interval '1 hour', interval '5 seconds' * power(2, attempts)), "
    "  dead_at = CASE WHEN attempts + 1 >= $4 THEN now() END "
    "WHERE image_id = $1";

/* Copies one core outcome into palloc'd POD (phase 2). */
void
CopyOutcome(const europeana::core::BatchOutcome &o, ItemResult *r) {
	r->ok = o.ok;
	if (o.ok) {
		r->nranked = static_cast<int>(std::min<size_t>(o.result.ranked.size(), kTopK));
		for (int k = 0; k < r->nranked; k++) {
			const auto &rc = o.result.ranked[k];
			r->ranked[k].concept = rc.concept.empty() ? nullptr : europeana::pg::PStrdupNoOom(rc.concept);
			r->ranked[k].score = rc.score;
			r->ranked[k].label = europeana::pg::PStrdupNoOom(rc.top_label);
			r->ranked[k].label_score = rc.top_label_score;
		}
	} else {
		r->error = europeana::pg::PStrdupNoOom(o.error);
		r->sqlstate = europeana::pg::SqlstateOf(o.error_kind);
	}
}

} // namespace

/*
 * CALL europeana.enrich(...). Main thread only; one transaction per batch; may
 * ereport(ERROR) for bad arguments, an unusable model, or a cancel between batches.
 */
EUROPEANA_PG_FUNCTION(europeana_enrich) {
	/* phase 1 */
	europeana::pg::CheckExtensionVersion();
	europeana::pg::RequireNonAtomicCall(fcinfo, "europeana.enrich", "It commits after every batch");
	const int32 max_images = PG_ARGISNULL(0) ? PG_INT32_MAX : PG_GETARG_INT32(0);
	const int32 batch_size = PG_ARGISNULL(1) ? 16 : PG_GETARG_INT32(1);
	if (max_images < 0 || batch_size < 1 || batch_size > 1024) {
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
		                errmsg("max_images must be at least 0 and batch_size between 1 and 1024"),
		                errhint("For example CALL europeana.enrich(1000, 16).")));
	}
	char *model = europeana::pg::ModelArgOrDefault(fcinfo, 2);
	const europeana::core::ClassifierSettings settings = europeana::pg::ClassifierSettingsFromGucs();
	const int decode_threads = static_cast<int>(std::clamp(std::thread::hardware_concurrency(), 1u, 8u));

	SPI_connect_ext(SPI_OPT_NONATOMIC);
	/* the model's registry row (verifies the weights' checksum) gives the results' provenance */
	{
		Oid t[1] = {TEXTOID};
		Datum v[1] = {CStringGetTextDatum(model)};
		SPI_execute_with_args("SELECT (europeana.register_model($1)).model_id", 1, t, v, nullptr, false, 1);
	}
	bool isnull;
	const int32 model_id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_commit();

	MemoryContext batch_cxt = AllocSetContextCreate(CurrentMemoryContext, "europeana enrich batch", ALLOCSET_DEFAULT_SIZES);
	int64 done = 0, enriched = 0, refused = 0;
	while (done < max_images) {
		CHECK_FOR_INTERRUPTS(); /* between batches: no C++ object is alive here */
		MemoryContext caller = MemoryContextSwitchTo(batch_cxt);
		Oid ct[2] = {INT4OID, INT4OID};
		Datum cv[2] = {Int32GetDatum(model_id), Int32GetDatum(static_cast<int32>(std::min<int64>(batch_size, max_images - done)))};
		SPI_execute_with_args(kClaim, 2, ct, cv, nullptr, false, 0);
		const int n = static_cast<int>(SPI_processed);
		if (n == 0) {
			MemoryContextSwitchTo(caller);
			SPI_commit();
			break;
		}
		ItemResult *results = static_cast<ItemResult *>(palloc0(sizeof(ItemResult) * n));
		bytea **images = static_cast<bytea **>(palloc(sizeof(bytea *) * n));
		for (int i = 0; i < n; i++) {
			results[i].image_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
			images[i] = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));
		}

		/* phase 2: C++ only */
		{
			std::vector<europeana::core::BatchItem> items(n);
			for (int i = 0; i < n; i++) {
				items[i].key = i;
				items[i].image = europeana::pg::AsBytes(images[i]);
			}
			const europeana::core::ShouldStop stop = [] { return europeana::pg::StopRequested(); };
			std::vector<europeana::core::BatchOutcome> outcomes;
			try {
				outcomes = europeana::core::ClassifyBatch(items, model, settings, decode_threads, stop);
			} catch (const europeana::Error &e) {
				if (e.Kind() == europeana::ErrorKind::Cancelled || e.Kind() == europeana::ErrorKind::NotFound ||
				    e.Kind() == europeana::ErrorKind::MissingFile || e.Kind() == europeana::ErrorKind::Corrupt) {
					throw; /* the model, not an image: nothing to record per item */
				}
				/* a failure of the batch as a whole (e.g. memory): classify one by one so
				 * that only the image that causes it is refused */
				outcomes.clear();
				for (int i = 0; i < n; i++) {
					try {
						auto single = europeana::core::ClassifyBatch({items[i]}, model, settings, 1, stop);
						outcomes.push_back(std::move(single[0]));
					} catch (const europeana::Error &one) {
						if (one.Kind() == europeana::ErrorKind::Cancelled) {
							throw;
						}
						europeana::core::BatchOutcome failed;
						failed.key = i;
						failed.error_kind = one.Kind();
						failed.error = one.what();
						outcomes.push_back(std::move(failed));
					}
				}
			}
			for (const auto &o : outcomes) {
				CopyOutcome(o, &results[o.key]);
			}
		}

		/* phase 3: results and queue in one transaction */
		for (int i = 0; i < n; i++) {
			const ItemResult &r = results[i];
			if (r.ok) {
				for (int k = 0; k < r.nranked; k++) {
					Oid wt[7] = {INT8OID, INT4OID, INT2OID, TEXTOID, FLOAT4OID, TEXTOID, FLOAT4OID};
					Datum wv[7] = {Int64GetDatum(r.image_id),
					               Int32GetDatum(model_id),
					               Int16GetDatum(static_cast<int16>(k + 1)),
					               r.ranked[k].concept ? CStringGetTextDatum(r.ranked[k].concept) : 0,
					               Float4GetDatum(r.ranked[k].score),
					               CStringGetTextDatum(r.ranked[k].label),
					               Float4GetDatum(r.ranked[k].label_score)};
					const char wn[8] = {' ', ' ', ' ', r.ranked[k].concept ? ' ' : 'n', ' ', ' ', ' ', '\0'};
					SPI_execute_with_args(kWriteResult, 7, wt, wv, wn, false, 0);
				}
				Oid dt[1] = {INT8OID};
				Datum dv[1] = {Int64GetDatum(r.image_id)};
				SPI_execute_with_args("DELETE FROM europeana.enrichment_queue WHERE image_id = $1", 1, dt, dv, nullptr,
				                      false, 0);
				enriched++;
			} else {
				Oid ft[4] = {INT8OID, TEXTOID, TEXTOID, INT4OID};
				Datum fv[4] = {Int64GetDatum(r.image_id), CStringGetTextDatum(r.error),
				               CStringGetTextDatum(unpack_sql_state(r.sqlstate)), Int32GetDatum(kMaxAttempts)};
				SPI_execute_with_args(kRecordFailure, 4, ft, fv, nullptr, false, 0);
				refused++;
			}
		}
		done += n;
		MemoryContextSwitchTo(caller);
		SPI_commit();
		MemoryContextReset(batch_cxt);
	}
	ereport(NOTICE, (errmsg("enrich: %lld images enriched, %lld refused", static_cast<long long>(enriched),
	                        static_cast<long long>(refused))));
	SPI_finish();
	PG_RETURN_VOID();
}
