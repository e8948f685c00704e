/*
 * worker.hpp — the background enrichment workers.
 */
#pragma once

namespace europeana::pg {

/* In the postmaster, from _PG_init during shared_preload_libraries: defines the worker
 * settings, requests the shared memory and registers europeana.worker_count workers.
 * Starts nothing and loads nothing. */
void RegisterWorkers();

} // namespace europeana::pg
