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
#include "pg/enrich_batch.hpp"
#include "pg/guc.hpp"
#include "pg/version_check.hpp"

#include <algorithm>
#include <thread>

extern "C" {
#include "executor/spi.h"
#include "utils/memutils.h"
}

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
	/* static, not a local: an ERROR from SPI below longjmps past this frame, which would skip
	 * a local's destructor (and leak its strings) */
	static europeana::core::ClassifierSettings settings;
	settings = europeana::pg::ClassifierSettingsFromGucs();
	const int decode_threads = europeana::core::DecodeThreadsFor(
	    settings, static_cast<int>(std::clamp(std::thread::hardware_concurrency(), 1u, 8u)));

	SPI_connect_ext(SPI_OPT_NONATOMIC);
	europeana::pg::EnrichTarget target;
	target.model = model;
	/* the model's registry row (verifies the weights' checksum) gives the results' provenance */
	target.model_id = europeana::pg::RegisterModelId(model);
	/* rows queued for "the default model" (model_id NULL) are processed with the model this
	 * call runs, as well as the rows queued for that model by name */
	target.take_default_rows = true;
	SPI_commit();
	SPI_finish();

	MemoryContext batch_cxt = AllocSetContextCreate(CurrentMemoryContext, "europeana enrich batch", ALLOCSET_DEFAULT_SIZES);
	int64 done = 0, enriched = 0, refused = 0;
	int idle_batches = 0; /* in a row, none of whose images could be settled */
	while (done < max_images) {
		CHECK_FOR_INTERRUPTS(); /* between batches: no C++ object is alive here */
		/* one SPI connection per batch: SPI keeps every result table (and what is palloc'd
		 * while connected) until SPI_finish, so a long call would otherwise grow by each batch */
		SPI_connect_ext(SPI_OPT_NONATOMIC);
		MemoryContext caller = MemoryContextSwitchTo(batch_cxt);
		const int limit = static_cast<int>(std::min<int64>(batch_size, max_images - done));
		const europeana::pg::EnrichBatchResult r = europeana::pg::RunEnrichBatch(target, limit, settings, decode_threads);
		MemoryContextSwitchTo(caller);
		SPI_commit();
		SPI_finish();
		MemoryContextReset(batch_cxt);
		if (r.claimed == 0) {
			break;
		}
		done += r.claimed;
		enriched += r.enriched;
		refused += r.refused;
		/* rows that could not be settled, not even as refused (a trigger on the queue refused
		 * that too), are parked: the next claims leave them out.  Should batches keep settling
		 * nothing all the same, claiming again would never end. */
		idle_batches = r.enriched + r.refused == 0 ? idle_batches + 1 : 0;
		if (idle_batches == 3) {
			ereport(WARNING, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			                  errmsg("enrich: stopping: none of the images of the last three batches could be "
			                         "written or recorded as refused"),
			                  errhint("See the warnings above; the images stay queued.")));
			break;
		}
	}
	ereport(NOTICE, (errmsg("enrich: %lld images enriched, %lld refused", static_cast<long long>(enriched),
	                        static_cast<long long>(refused))));
	PG_RETURN_VOID();
}
