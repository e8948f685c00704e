/*
 * enrich_batch.hpp — enrichment batches: the path shared by CALL europeana.enrich() and
 * the background workers.
 *
 * A batch claims up to `limit` queue rows (FOR UPDATE SKIP LOCKED, leaving out rows that a
 * pipelined worker has published as claimed), classifies their images (core ClassifyBatch:
 * parallel decode on threads that never call PostgreSQL, one forward), writes the top
 * concepts with provenance, deletes the successful queue rows and records each refused
 * image on its row (attempts, error, SQLSTATE, next attempt with exponential backoff,
 * dead-lettered after europeana.enrich_max_attempts).  Results and queue deletion become visible
 * together at the commit; a crash before that leaves the rows queued.
 *
 * Two forms:
 *   - RunEnrichBatch: claim, classify and write in the caller's transaction.
 *   - a detached batch (pipelined workers): ClaimDetachedBatch claims the rows, publishes
 *     them (shared.hpp) and copies the images into the batch's own memory, all in one
 *     transaction; the images are classified after it committed, on another thread, while
 *     the worker's main thread writes the previous batch and claims the next; then
 *     WriteDetachedBatch, in a later transaction, settles each row only if it is unchanged
 *     since the claim (same xmin): an image replaced or re-queued meanwhile stays queued
 *     and its stale result is dropped.  ReleaseDetachedBatch withdraws the claims after
 *     that transaction committed, or aborted.
 *
 * The PostgreSQL functions here may ereport(ERROR) and run on the main thread with SPI
 * connected; run them under CallGuarded.
 */
#pragma once

#include "core/classify/classifier.hpp"
#include "pg/boundary.hpp"

#include <vector>

namespace europeana::pg {

constexpr int kEnrichTopK = 3;

struct EnrichTarget {
	const char *model = nullptr; /* model name */
	int32 model_id = 0;          /* its europeana.models row */
	bool take_default_rows = false; /* also claim rows queued for "the default model" (model_id NULL) */
};

struct EnrichBatchResult {
	int claimed = 0;
	int enriched = 0;
	int refused = 0;
	int stale = 0;            /* detached: rows changed or gone since the claim, left alone */
	double claim_ms = 0.0;    /* the claiming query (and, detached, copying the images) */
	double classify_ms = 0.0; /* the core call: detoast, decode and forward, overlapped */
	double fetch_ms = 0.0;    /* of which detoasting the images on the main thread */
	double write_ms = 0.0;    /* results INSERT, queue DELETE, failures */
};

/* Registers `model` (verifying its weights) through europeana.register_model and returns
 * its model_id.  SPI must be connected. */
int32 RegisterModelId(const char *model);

EnrichBatchResult RunEnrichBatch(const EnrichTarget &target, int limit, const core::ClassifierSettings &settings,
                                 int decode_threads);

struct DetachedBatch;

/* Claims, publishes and copies a batch for `target` (whose model name is copied); null
 * when nothing is claimable.  The batch lives in a memory context of its own under
 * TopMemoryContext. */
DetachedBatch *ClaimDetachedBatch(const EnrichTarget &target, int limit);

/* The batch's images to classify (each distinct image once), valid until the batch is
 * released.  C++ only: no PostgreSQL call. */
std::vector<core::BatchItem> DetachedBatchItems(const DetachedBatch *batch);

/* The model the batch was claimed for. */
const char *DetachedBatchModel(const DetachedBatch *batch);

/* Keeps the classifier's outcomes in the batch's memory.  C++ only (phase 2): may throw
 * std::bad_alloc, never ereports. */
void SetDetachedOutcomes(DetachedBatch *batch, const std::vector<core::BatchOutcome> &outcomes);

/* Writes the outcomes set by SetDetachedOutcomes in the caller's transaction. */
EnrichBatchResult WriteDetachedBatch(DetachedBatch *batch);

/* Withdraws the batch's claims and frees it (after its write committed, or on abort). */
void ReleaseDetachedBatch(DetachedBatch *batch);

} // namespace europeana::pg
