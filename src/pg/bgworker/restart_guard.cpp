/*
 * restart_guard.cpp — see restart_guard.hpp.
 */
#include "pg/bgworker/restart_guard.hpp"
#include "pg/bgworker/shared.hpp"

extern "C" {
#include "postgres.h"

#include "miscadmin.h"
#include "pgstat.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "utils/timestamp.h"
}

#include <algorithm>
#include <cstdio>

namespace europeana::pg {

namespace {

constexpr const char *kDir = "pg_europeana";
/* a start that ends sooner than this without a written batch counts toward a crash loop */
constexpr long kQuickEndSeconds = 60;
constexpr long kFirstWaitSeconds = 5;
constexpr long kMaxWaitSeconds = 300;

char state_path[MAXPGPATH] = "";
bool healthy = false; /* this start has written a batch, or its state is reset */

void
WriteState(long quick_ends, long started_at) {
	if (state_path[0] == '\0') {
		return;
	}
	FILE *f = AllocateFile(state_path, PG_BINARY_W);
	if (f == nullptr) {
		ereport(LOG, (errcode_for_file_access(), errmsg("could not write \"%s\": %m", state_path)));
		return;
	}
	fprintf(f, "%ld %ld\n", quick_ends, started_at);
	if (FreeFile(f) != 0) {
		ereport(LOG, (errcode_for_file_access(), errmsg("could not write \"%s\": %m", state_path)));
	}
}

void
ResetAtExit(int, Datum) {
	MarkStartHealthy();
}

} // namespace

void
GuardAgainstCrashLoop(int worker_index) {
	char dir[MAXPGPATH];
	snprintf(dir, sizeof(dir), "%s/%s", DataDir, kDir);
	if (MakePGDirectory(dir) != 0 && errno != EEXIST) {
		ereport(LOG, (errcode_for_file_access(), errmsg("could not create directory \"%s\": %m", dir)));
		return;
	}
	snprintf(state_path, sizeof(state_path), "%s/%s/worker_%d", DataDir, kDir, worker_index + 1);
	long quick_ends = 0, last_start = 0;
	if (FILE *f = AllocateFile(state_path, PG_BINARY_R)) {
		if (fscanf(f, "%ld %ld", &quick_ends, &last_start) != 2) {
			quick_ends = last_start = 0;
		}
		FreeFile(f);
	}
	const long now = static_cast<long>(time(nullptr));
	/* last_start 0: the last start went well (a written batch or a clean exit) */
	quick_ends = last_start != 0 && now - last_start < kQuickEndSeconds ? quick_ends + 1 : 0;
	WriteState(quick_ends, now);
	healthy = false;
	on_proc_exit(ResetAtExit, 0);
	if (quick_ends == 0) {
		return;
	}
	const long wait_s = std::min(kMaxWaitSeconds, kFirstWaitSeconds << std::min(quick_ends - 1, 10L));
	char message[200];
	snprintf(message, sizeof(message),
	         "its last %ld start%s ended within %ld s without writing a batch (a crash?); waiting %ld s before "
	         "claiming work",
	         quick_ends, quick_ends == 1 ? "" : "s", kQuickEndSeconds, wait_s);
	ereport(LOG, (errmsg("europeana worker %d: %s", worker_index + 1, message),
	              errhint("The server log shows how the worker ended; a crashing worker writes its stack there.")));
	RecordWorkerError(message); /* worker_status: state error, with this as its last error */
	const TimestampTz until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), wait_s * 1000);
	for (;;) {
		CHECK_FOR_INTERRUPTS();
		const long left_ms = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), until);
		if (left_ms <= 0) {
			break;
		}
		(void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, left_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
	/* the minute is counted from the end of the wait: a crash soon after a long wait is still
	 * a quick end, so that the waits keep doubling up to their cap */
	WriteState(quick_ends, static_cast<long>(time(nullptr)));
}

void
MarkStartHealthy() {
	if (healthy) {
		return;
	}
	healthy = true;
	WriteState(0, 0);
}

} // namespace europeana::pg
