/*
 * restart_guard.hpp — a worker that keeps crashing does not restart the server every few
 * seconds.
 *
 * When a worker dies of a signal (a crash inside a library, e.g. LibTorch on a GPU another
 * process has filled), the postmaster restarts every server process; restarted, the worker
 * takes the same work and may crash again within seconds, and every session of the server
 * is cut each time.  Shared memory does not survive that restart, so a small file per worker
 * in the data directory (pg_europeana/worker_N) remembers how many starts in a row ended
 * within a minute without writing a batch.  From the second such start on, the worker waits
 * before it claims anything: 5 s, doubling up to 5 minutes, and says so in the log and in
 * worker_status (state error, with the wait as its last error).  A
 * written batch or a clean exit resets the count.  Main thread only.
 */
#pragma once

namespace europeana::pg {

/* At the worker's start, after signal handlers are set: counts this start and, in a crash
 * loop, waits (exits at once on SIGTERM or postmaster death). */
void GuardAgainstCrashLoop(int worker_index);

/* The start went well: called after each written batch (only the first one writes) and by
 * the exit callback GuardAgainstCrashLoop registers. */
void MarkStartHealthy();

} // namespace europeana::pg
