/*
 * shared.hpp — the background workers' shared memory: one slot per worker with its
 * status (read by europeana.worker_status) and the latch that wakes it.
 *
 * Exists only when the library is in shared_preload_libraries; every function here is a
 * no-op (or reports no workers) otherwise.  Main thread only.
 */
#pragma once

#include "pg/boundary.hpp"

extern "C" {
#include "datatype/timestamp.h"
}

namespace europeana::pg {

enum class WorkerState {
	Starting,
	WaitingForExtension,
	VersionMismatch,
	Idle,
	Working,
	Error,
};

/* In the postmaster, from _PG_init: installs the shmem request/startup hooks for
 * `slots` worker slots. */
void RequestWorkerSharedMemory(int slots);

/* In a worker: takes slot `index` (pid, latch, device), and releases it at exit. */
void AttachWorkerSlot(int index, const char *device);

/* In a worker: state, model and the outcome of a batch. Cheap (a spinlock). */
void SetWorkerState(WorkerState state, const char *model = nullptr);
void RecordWorkerBatch(int images, int refused, double elapsed_ms);
void RecordWorkerError(const char *message);
void WorkerHeartbeat();

/*
 * Queue rows claimed across transactions.  A pipelined worker classifies a batch after the
 * transaction that claimed it has committed (its row locks are gone), so it publishes the
 * batch's queue ids here until the transaction that writes the results commits.  Every
 * claim, pipelined or not, leaves out the ids published by any worker.  A worker's claims
 * are dropped when it exits, and with the whole shared memory on a crash restart.
 */
constexpr int kMaxClaimsPerWorker = 2048; /* two batches of the largest batch_size */

/* Every published queue id, and this process's parked ones, as a palloc'd bigint[] datum
 * (empty without workers and parked rows): what a claim leaves out. */
Datum PublishedClaims();

/* A queue row this process could not settle, not even as refused (a trigger on the queue
 * refused the refusal's UPDATE): its claims leave it out for a few minutes, so that it does
 * not hold the head of the queue (claims take the oldest next_attempt_at first).
 * Process-local; at most 1,024 rows, the one parked soonest to expire replaced first. */
void ParkQueueRow(int64 queue_id);

/* Sets keep[i] = false for each ids[i] that some worker has published and returns how many
 * are kept.  With publish, atomically with the check, this worker publishes the kept ones
 * (those that do not fit are not kept). */
int FilterClaims(const int64 *ids, int n, bool *keep, bool publish);

/* Withdraws this worker's claims on ids[] (after the transaction that settled them
 * committed), or all of them. */
void ReleaseClaims(const int64 *ids, int n);
void ReleaseAllClaims();

/* Marks this process as a worker, so that its own queue updates wake nobody. */
void MarkAsWorker();

/* Sets every worker's latch (any backend; safe after commit: never errors). */
void WakeWorkers();

} // namespace europeana::pg
