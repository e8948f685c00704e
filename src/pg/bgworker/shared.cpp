/*
 * shared.cpp — worker slots in shared memory, the commit-time wake-up, and
 * europeana._worker_status().
 *
 * Wake-up: the statement trigger on enrichment_queue calls europeana_wake_workers, which
 * only sets a flag in this backend and registers a transaction callback; at COMMIT (after
 * the transaction is visible to others) the callback sets every worker's latch.  A rolled
 * back transaction wakes nobody.  Workers sleep on their latch, with
 * europeana.worker_naptime as the safety net.
 */
#include "pg/bgworker/shared.hpp"

#include <algorithm>
#include <cstring>

extern "C" {
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"
}

namespace europeana::pg {

namespace {

struct WorkerSlot {
	slock_t mutex;
	pg_atomic_uint32 procno_plus1; /* 0: no process; else pgprocno + 1, for the wake-up */
	int pid;
	WorkerState state;
	char device[32];
	char model[64];
	int64 batches;
	int64 images;
	int64 refused;
	double busy_ms;
	TimestampTz started_at;
	TimestampTz last_batch_at;
	TimestampTz heartbeat;
	TimestampTz last_error_at;
	char last_error[256];
};

/* One per slot, after the slots, under claims_lock. */
struct ClaimSet {
	int n;
	int64 ids[kMaxClaimsPerWorker];
};

struct WorkerShared {
	int nslots;
	LWLock *claims_lock;
	WorkerSlot slots[FLEXIBLE_ARRAY_MEMBER];
};

WorkerShared *shared = nullptr;
int requested_slots = 0;
shmem_request_hook_type prev_shmem_request_hook = nullptr;
shmem_startup_hook_type prev_shmem_startup_hook = nullptr;

WorkerSlot *my_slot = nullptr;
bool am_worker = false;
bool wake_at_commit = false;
bool callback_registered = false;

Size
SlotsSize(int slots) {
	return MAXALIGN(add_size(offsetof(WorkerShared, slots), mul_size(sizeof(WorkerSlot), slots)));
}

Size
SharedSize(int slots) {
	return add_size(SlotsSize(slots), mul_size(sizeof(ClaimSet), slots));
}

ClaimSet *
ClaimsOf(int slot) {
	return reinterpret_cast<ClaimSet *>(reinterpret_cast<char *>(shared) + SlotsSize(shared->nslots)) + slot;
}

ClaimSet *my_claims = nullptr;

void
ShmemRequest() {
	if (prev_shmem_request_hook != nullptr) {
		prev_shmem_request_hook();
	}
	RequestAddinShmemSpace(SharedSize(requested_slots));
	RequestNamedLWLockTranche("europeana claims", 1);
}

void
ShmemStartup() {
	if (prev_shmem_startup_hook != nullptr) {
		prev_shmem_startup_hook();
	}
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	bool found = false;
	shared = static_cast<WorkerShared *>(ShmemInitStruct("europeana workers", SharedSize(requested_slots), &found));
	if (!found) {
		memset(shared, 0, SharedSize(requested_slots));
		shared->nslots = requested_slots;
		for (int i = 0; i < requested_slots; i++) {
			SpinLockInit(&shared->slots[i].mutex);
			pg_atomic_init_u32(&shared->slots[i].procno_plus1, 0);
		}
		shared->claims_lock = &(GetNamedLWLockTranche("europeana claims"))->lock;
	}
	LWLockRelease(AddinShmemInitLock);
}

void
DetachSlot(int, Datum) {
	if (my_slot == nullptr) {
		return;
	}
	ReleaseAllClaims();
	my_claims = nullptr;
	pg_atomic_write_u32(&my_slot->procno_plus1, 0);
	SpinLockAcquire(&my_slot->mutex);
	my_slot->pid = 0;
	SpinLockRelease(&my_slot->mutex);
	my_slot = nullptr;
}

void
AtCommit(XactEvent event, void *) {
	switch (event) {
	case XACT_EVENT_COMMIT:
		if (wake_at_commit) {
			wake_at_commit = false;
			WakeWorkers();
		}
		break;
	case XACT_EVENT_ABORT:
	case XACT_EVENT_PREPARE:
		wake_at_commit = false; /* a prepared transaction is found by the safety-net poll */
		break;
	default:
		break;
	}
}

const char *
StateName(WorkerState s) {
	switch (s) {
	case WorkerState::Starting:
		return "starting";
	case WorkerState::WaitingForExtension:
		return "waiting_for_extension";
	case WorkerState::VersionMismatch:
		return "version_mismatch";
	case WorkerState::Idle:
		return "idle";
	case WorkerState::Working:
		return "working";
	case WorkerState::Error:
		return "error";
	}
	return "unknown";
}

void
CopyName(char *dst, size_t cap, const char *src) {
	strlcpy(dst, src != nullptr ? src : "", cap);
}

} // namespace

void
RequestWorkerSharedMemory(int slots) {
	requested_slots = slots;
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = ShmemRequest;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = ShmemStartup;
}

void
AttachWorkerSlot(int index, const char *device) {
	if (shared == nullptr || index < 0 || index >= shared->nslots) {
		return;
	}
	my_slot = &shared->slots[index];
	const TimestampTz now = GetCurrentTimestamp();
	SpinLockAcquire(&my_slot->mutex);
	my_slot->pid = MyProcPid;
	my_slot->state = WorkerState::Starting;
	CopyName(my_slot->device, sizeof(my_slot->device), device);
	my_slot->model[0] = '\0';
	my_slot->batches = my_slot->images = my_slot->refused = 0;
	my_slot->busy_ms = 0;
	my_slot->started_at = now;
	my_slot->heartbeat = now;
	my_slot->last_batch_at = 0;
	SpinLockRelease(&my_slot->mutex);
	pg_atomic_write_u32(&my_slot->procno_plus1, static_cast<uint32>(MyProc->pgprocno) + 1);
	my_claims = ClaimsOf(index);
	ReleaseAllClaims(); /* left by a predecessor in this slot that did not exit cleanly */
	before_shmem_exit(DetachSlot, 0);
}

namespace {

int
CompareInt64(const void *a, const void *b) {
	const int64 x = *static_cast<const int64 *>(a);
	const int64 y = *static_cast<const int64 *>(b);
	return x < y ? -1 : (x > y ? 1 : 0);
}

/* Copies every published id into out (room for nslots * kMaxClaimsPerWorker); the
 * caller holds claims_lock. */
int
CollectClaims(int64 *out) {
	int total = 0;
	for (int i = 0; i < shared->nslots; i++) {
		const ClaimSet *c = ClaimsOf(i);
		memcpy(out + total, c->ids, sizeof(int64) * c->n);
		total += c->n;
	}
	return total;
}

} // namespace

namespace {

constexpr int kMaxParked = 1024;
constexpr long kParkSeconds = 300;
struct ParkedRow {
	int64 queue_id;
	TimestampTz until;
};
ParkedRow parked[kMaxParked];
int nparked = 0;

} // namespace

void
ParkQueueRow(int64 queue_id) {
	const TimestampTz until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), kParkSeconds * 1000);
	int slot = nparked;
	for (int i = 0; i < nparked; i++) {
		if (parked[i].queue_id == queue_id) {
			slot = i;
			break;
		}
	}
	if (slot == kMaxParked) {
		slot = 0;
		for (int i = 1; i < nparked; i++) {
			if (parked[i].until < parked[slot].until) {
				slot = i;
			}
		}
	}
	parked[slot] = {queue_id, until};
	nparked = std::max(nparked, slot + 1);
}

Datum
PublishedClaims() {
	int total = 0;
	const int capacity = (shared != nullptr ? shared->nslots * kMaxClaimsPerWorker : 0) + nparked;
	int64 *ids = static_cast<int64 *>(palloc(sizeof(int64) * std::max(capacity, 1)));
	if (shared != nullptr) {
		LWLockAcquire(shared->claims_lock, LW_SHARED);
		total = CollectClaims(ids);
		LWLockRelease(shared->claims_lock);
	}
	const TimestampTz now = GetCurrentTimestamp();
	for (int i = 0; i < nparked; i++) {
		if (parked[i].until > now) {
			ids[total++] = parked[i].queue_id;
		}
	}
	Datum *values = static_cast<Datum *>(palloc(sizeof(Datum) * std::max(total, 1)));
	for (int i = 0; i < total; i++) {
		values[i] = Int64GetDatum(ids[i]);
	}
	return PointerGetDatum(construct_array(values, total, INT8OID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

int
FilterClaims(const int64 *ids, int n, bool *keep, bool publish) {
	for (int i = 0; i < n; i++) {
		keep[i] = true;
	}
	if (shared == nullptr || n == 0) {
		return n;
	}
	const bool publishing = publish && my_claims != nullptr;
	int64 *all = static_cast<int64 *>(palloc(sizeof(int64) * shared->nslots * kMaxClaimsPerWorker));
	int kept = 0;
	LWLockAcquire(shared->claims_lock, publishing ? LW_EXCLUSIVE : LW_SHARED);
	const int total = CollectClaims(all);
	qsort(all, total, sizeof(int64), CompareInt64);
	for (int i = 0; i < n; i++) {
		if (total > 0 && bsearch(&ids[i], all, total, sizeof(int64), CompareInt64) != nullptr) {
			keep[i] = false;
		} else if (publishing && my_claims->n >= kMaxClaimsPerWorker) {
			keep[i] = false;
		} else {
			if (publishing) {
				my_claims->ids[my_claims->n++] = ids[i];
			}
			kept++;
		}
	}
	LWLockRelease(shared->claims_lock);
	pfree(all);
	return kept;
}

void
ReleaseClaims(const int64 *ids, int n) {
	if (shared == nullptr || my_claims == nullptr || n == 0) {
		return;
	}
	int64 *sorted = static_cast<int64 *>(palloc(sizeof(int64) * n));
	memcpy(sorted, ids, sizeof(int64) * n);
	qsort(sorted, n, sizeof(int64), CompareInt64);
	LWLockAcquire(shared->claims_lock, LW_EXCLUSIVE);
	int w = 0;
	for (int r = 0; r < my_claims->n; r++) {
		if (bsearch(&my_claims->ids[r], sorted, n, sizeof(int64), CompareInt64) == nullptr) {
			my_claims->ids[w++] = my_claims->ids[r];
		}
	}
	my_claims->n = w;
	LWLockRelease(shared->claims_lock);
	pfree(sorted);
}

void
ReleaseAllClaims() {
	if (shared == nullptr || my_claims == nullptr) {
		return;
	}
	LWLockAcquire(shared->claims_lock, LW_EXCLUSIVE);
	my_claims->n = 0;
	LWLockRelease(shared->claims_lock);
}

namespace {

/* Updates this worker's slot under its spinlock and stamps the heartbeat; `fn` only
 * assigns fields (no calls that may fail while the spinlock is held). */
template <typename Fn>
void
UpdateMySlot(Fn fn) {
	if (my_slot == nullptr) {
		return;
	}
	const TimestampTz now = GetCurrentTimestamp();
	SpinLockAcquire(&my_slot->mutex);
	fn(my_slot, now);
	my_slot->heartbeat = now;
	SpinLockRelease(&my_slot->mutex);
}

} // namespace

void
SetWorkerState(WorkerState state, const char *model) {
	UpdateMySlot([&](WorkerSlot *slot, TimestampTz) {
		slot->state = state;
		if (model != nullptr) {
			CopyName(slot->model, sizeof(slot->model), model);
		}
	});
}

void
RecordWorkerBatch(int images, int refused, double elapsed_ms) {
	UpdateMySlot([&](WorkerSlot *slot, TimestampTz now) {
		slot->batches++;
		slot->images += images;
		slot->refused += refused;
		slot->busy_ms += elapsed_ms;
		slot->last_batch_at = now;
	});
}

void
RecordWorkerError(const char *message) {
	UpdateMySlot([&](WorkerSlot *slot, TimestampTz now) {
		slot->state = WorkerState::Error;
		CopyName(slot->last_error, sizeof(slot->last_error), message);
		slot->last_error_at = now;
	});
}

void
WorkerHeartbeat() {
	UpdateMySlot([](WorkerSlot *, TimestampTz) {});
}

void
MarkAsWorker() {
	am_worker = true;
}

void
WakeWorkers() {
	if (shared == nullptr) {
		return;
	}
	for (int i = 0; i < shared->nslots; i++) {
		const uint32 p = pg_atomic_read_u32(&shared->slots[i].procno_plus1);
		if (p != 0) {
			SetLatch(&ProcGlobal->allProcs[p - 1].procLatch);
		}
	}
}

} // namespace europeana::pg

/* Statement trigger: wake the workers when this transaction commits. */
EUROPEANA_PG_FUNCTION(europeana_wake_workers) {
	if (!CALLED_AS_TRIGGER(fcinfo)) {
		ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
		                errmsg("europeana._wake_workers() must be called as a trigger"),
		                errhint("It is installed on europeana.enrichment_queue by the extension.")));
	}
	using namespace europeana::pg;
	if (shared != nullptr && !am_worker) {
		if (!callback_registered) {
			RegisterXactCallback(AtCommit, nullptr);
			callback_registered = true;
		}
		wake_at_commit = true;
	}
	return PointerGetDatum(nullptr);
}

/* europeana._worker_status(): one row per slot. */
EUROPEANA_PG_FUNCTION(europeana_worker_status) {
	using namespace europeana::pg;
	InitMaterializedSRF(fcinfo, 0);
	ReturnSetInfo *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
	const int nslots = shared != nullptr ? shared->nslots : 0;
	for (int i = 0; i < nslots; i++) {
		WorkerSlot copy;
		SpinLockAcquire(&shared->slots[i].mutex);
		memcpy(&copy, &shared->slots[i], sizeof(copy));
		SpinLockRelease(&shared->slots[i].mutex);
		const bool running = copy.pid != 0;

		Datum v[14];
		bool n[14];
		memset(n, 0, sizeof(n));
		v[0] = Int32GetDatum(i + 1);
		v[1] = Int32GetDatum(copy.pid);
		n[1] = !running;
		v[2] = CStringGetTextDatum(copy.device);
		n[2] = copy.device[0] == '\0';
		v[3] = CStringGetTextDatum(running ? StateName(copy.state) : "stopped");
		v[4] = CStringGetTextDatum(copy.model);
		n[4] = copy.model[0] == '\0';
		v[5] = Int64GetDatum(copy.batches);
		v[6] = Int64GetDatum(copy.images);
		v[7] = Int64GetDatum(copy.refused);
		v[8] = Float8GetDatum(copy.busy_ms > 0 ? copy.images * 1000.0 / copy.busy_ms : 0.0);
		n[8] = copy.busy_ms <= 0;
		v[9] = TimestampTzGetDatum(copy.started_at);
		n[9] = copy.started_at == 0;
		v[10] = TimestampTzGetDatum(copy.last_batch_at);
		n[10] = copy.last_batch_at == 0;
		v[11] = TimestampTzGetDatum(copy.heartbeat);
		n[11] = copy.heartbeat == 0;
		v[12] = CStringGetTextDatum(copy.last_error);
		n[12] = copy.last_error[0] == '\0';
		v[13] = TimestampTzGetDatum(copy.last_error_at);
		n[13] = copy.last_error_at == 0;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, n);
	}
	return static_cast<Datum>(0);
}
