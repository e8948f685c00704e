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

/* Marks this process as a worker, so that its own queue updates wake nobody. */
void MarkAsWorker();

/* Sets every worker's latch (any backend; safe after commit: never errors). */
void WakeWorkers();

} // namespace europeana::pg
