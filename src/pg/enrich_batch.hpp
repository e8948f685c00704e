/*
 * enrich_batch.hpp — one enrichment batch: the path shared by CALL europeana.enrich()
 * and the background workers.
 *
 * Runs inside the caller's transaction with SPI connected (main thread only).  Claims up
 * to `limit` queue rows with FOR UPDATE SKIP LOCKED, classifies their images (core
 * ClassifyBatch: parallel decode on threads that never call PostgreSQL, one forward),
 * writes the top concepts with provenance, deletes the successful queue rows and records
 * each refused image on its row (attempts, error, SQLSTATE, next attempt with exponential
 * backoff, dead-lettered after kMaxAttempts).  The caller commits: results and queue
 * deletion then become visible together, and a crash before that leaves the rows queued.
 *
 * May ereport(ERROR) (SPI) and throw europeana::Error (an unusable model, a cancel); run
 * it under CallGuarded.
 */
#pragma once

#include "core/classify/classifier.hpp"
#include "pg/boundary.hpp"

namespace europeana::pg {

constexpr int kEnrichTopK = 3;
constexpr int kEnrichMaxAttempts = 5;

struct EnrichTarget {
	const char *model = nullptr; /* model name */
	int32 model_id = 0;          /* its europeana.models row */
	bool take_default_rows = false; /* also claim rows queued for "the default model" (model_id NULL) */
};

struct EnrichBatchResult {
	int claimed = 0;
	int enriched = 0;
	int refused = 0;
	double claim_ms = 0.0;    /* the claiming query */
	double classify_ms = 0.0; /* the core call: detoast, decode and forward, overlapped */
	double fetch_ms = 0.0;    /* of which detoasting the images on the main thread */
	double write_ms = 0.0;    /* results INSERT, queue DELETE, failures */
};

/* Registers `model` (verifying its weights) through europeana.register_model and returns
 * its model_id.  SPI must be connected. */
int32 RegisterModelId(const char *model);

EnrichBatchResult RunEnrichBatch(const EnrichTarget &target, int limit, const core::ClassifierSettings &settings,
                                 int decode_threads);

} // namespace europeana::pg
