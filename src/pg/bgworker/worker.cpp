/*
 * worker.cpp — background enrichment workers (registered when preloaded).
 *
 * Each worker connects to europeana.database and loops:
 *   - waits (with one log line) while the extension is not installed there, and refuses
 *     to work, with a warning, while the installed version differs from the library's;
 *   - runs enrichment batches (the same RunEnrichBatch as CALL europeana.enrich()), one
 *     transaction each, for europeana.default_model and then for images queued for other
 *     models by name, until nothing is claimable;
 *   - sleeps on its latch, which the commit of a transaction that queued work sets
 *     (shared.cpp); the sleep ends at the earliest retry time of a failed image, or after
 *     europeana.worker_naptime as a safety net.
 * A pipelined worker (europeana.worker_pipeline) splits a batch over two transactions, the
 * claim and the write, and classifies it on its AsyncClassifier thread in between, while
 * the main thread writes the previous batch and claims the next (see RunPipelinedOnce).
 * SIGTERM exits at the next interrupt check (between batches and during waits); SIGHUP
 * reloads the settings; an error is logged, shown in worker_status and retried with
 * backoff without leaving the process; a crash is restarted by the postmaster after
 * kRestartSeconds.  A batch that was not committed leaves its queue rows in place.
 */
#include "core/classify/async_classifier.hpp"
#include "core/common/crash_trace.hpp"
#include "core/classify/classifier.hpp"
#include "pg/bgworker/restart_guard.hpp"
#include "pg/bgworker/shared.hpp"
#include "pg/bgworker/worker.hpp"
#include "pg/boundary.hpp"
#include "pg/enrich_batch.hpp"
#include "pg/guc.hpp"
#include "pg/version_check.hpp"

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstring>
#include <malloc.h>
#include <thread>

extern "C" {
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/pmsignal.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/varlena.h"
}

extern "C" {
PGDLLEXPORT void europeana_worker_main(Datum main_arg);
}

namespace europeana::pg {

namespace {

int guc_worker_count = 1;
char *guc_database = nullptr;
char *guc_worker_devices = nullptr;
int guc_batch_size = 16;
int guc_worker_naptime_s = 10;
int guc_worker_threads = 0;
char *guc_worker_precision = nullptr;
bool guc_log_batches = false;
int guc_worker_gpu_jpeg = static_cast<int>(core::ClassifierSettings::GpuJpeg::Shared);
int guc_worker_gpu_jpeg_block = 256;
const struct config_enum_entry kGpuJpegOptions[] = {
    {"off", static_cast<int>(core::ClassifierSettings::GpuJpeg::Off), false},
    {"on", static_cast<int>(core::ClassifierSettings::GpuJpeg::On), false},
    {"shared", static_cast<int>(core::ClassifierSettings::GpuJpeg::Shared), false},
    {"false", static_cast<int>(core::ClassifierSettings::GpuJpeg::Off), true},
    {"true", static_cast<int>(core::ClassifierSettings::GpuJpeg::On), true},
    {"no", static_cast<int>(core::ClassifierSettings::GpuJpeg::Off), true},
    {"yes", static_cast<int>(core::ClassifierSettings::GpuJpeg::On), true},
    {"0", static_cast<int>(core::ClassifierSettings::GpuJpeg::Off), true},
    {"1", static_cast<int>(core::ClassifierSettings::GpuJpeg::On), true},
    {nullptr, 0, false}};
enum PipelineMode { kPipelineAuto, kPipelineOn, kPipelineOff };
int guc_worker_pipeline = kPipelineAuto;
const struct config_enum_entry kPipelineOptions[] = {
    {"auto", kPipelineAuto, false}, {"on", kPipelineOn, false},   {"off", kPipelineOff, false},
    {"true", kPipelineOn, true},    {"false", kPipelineOff, true}, {"yes", kPipelineOn, true},
    {"no", kPipelineOff, true},     {"1", kPipelineOn, true},      {"0", kPipelineOff, true},
    {nullptr, 0, false}};

constexpr int kRestartSeconds = 5;

/* Per-process worker state (the worker's own memory). */
int worker_index = 0;
char worker_device[32] = "cpu";
char registered_model[NAMEDATALEN * 2] = ""; /* model whose id is cached */
int32 registered_model_id = 0;
bool logged_waiting = false;
bool logged_mismatch = false;
int consecutive_errors = 0;

/* The model of this worker: europeana.default_model as the worker sees it (reloaded on
 * SIGHUP). */
const char *
ModelName() {
	return guc_default_model != nullptr && guc_default_model[0] != '\0' ? guc_default_model
	                                                                    : "mobilenet_v2_imagenet_float";
}

/* The device of worker `index`: the index-th entry of europeana.worker_devices, cyclically. */
void
ChooseDevice(int index) {
	char *raw = pstrdup(guc_worker_devices != nullptr ? guc_worker_devices : "cpu");
	List *items = NIL;
	if (!SplitIdentifierString(raw, ',', &items) || list_length(items) == 0) {
		strlcpy(worker_device, "cpu", sizeof(worker_device));
		return;
	}
	strlcpy(worker_device, static_cast<char *>(list_nth(items, index % list_length(items))), sizeof(worker_device));
}

bool
CheckDevices(char **newval, void **, GucSource) {
	char *raw = pstrdup(*newval);
	List *items = NIL;
	if (!SplitIdentifierString(raw, ',', &items) || list_length(items) == 0) {
		GUC_check_errdetail("List devices separated by commas, e.g. 'cpu' or 'cuda:0,cuda:1'.");
		return false;
	}
	ListCell *lc;
	foreach (lc, items) {
		const char *d = static_cast<const char *>(lfirst(lc));
		if (strcmp(d, "cpu") != 0 && strcmp(d, "cuda") != 0 && strncmp(d, "cuda:", 5) != 0) {
			GUC_check_errdetail("Unknown device \"%s\": use cpu, cuda or cuda:N.", d);
			return false;
		}
	}
	return true;
}

/* Inference allocates and frees large tensors every batch; glibc's defaults return that
 * memory to the kernel each time and fault it back in (measured 2-3x slower batches).
 * Keep it: mmap only above 32 MB, never trim, grow the heap in 64 MB steps.  One arena:
 * these settings do not hold for the per-thread arenas (64 MB heaps that glibc unmaps when
 * they empty), and a pipelined worker runs its forward passes on its classification
 * thread; measured on 2 CPU workers: 32 images/s with per-thread arenas, 97 with one
 * (CPU workers only: see below).
 * Workers only; ordinary backends keep the defaults. */
void
TuneMalloc(bool cpu) {
	if (cpu) {
		/* on CUDA the classification thread allocates little, and the many decode threads
		 * keep arenas of their own rather than queue for one */
		mallopt(M_ARENA_MAX, 1);
	}
	mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
	mallopt(M_TRIM_THRESHOLD, INT_MAX);
	mallopt(M_TOP_PAD, 64 * 1024 * 1024);
}

/* "; GPU stream: decode ..." for a batch log line, when the GPU's stages were timed */
std::string
GpuStageText(const core::BatchDecodeStats &d) {
	if (d.gpu_decode_ms < 0) {
		return "";
	}
	char text[320];
	snprintf(text, sizeof(text),
	         "; GPU stream: decode %.1f, preprocess %.1f, forward %.1f, other %.1f ms; classifying thread: "
	         "headers %.1f, nvJPEG calls %.1f, waiting for decode threads %.1f, uploads %.1f ms",
	         d.gpu_decode_ms, d.gpu_preprocess_ms, d.gpu_forward_ms, d.gpu_other_ms, d.host_sniff_ms,
	         d.host_submit_ms, d.host_join_ms, d.host_upload_ms);
	std::string out = text;
	if (d.gpu_failures > 0) {
		out += "; nvJPEG gave images back " + std::to_string(d.gpu_failures) + " times, last: " + d.gpu_last_failure;
	}
	return out;
}

/* A LOG line when this worker's GPU ran out of memory since the last batch (the batch was
 * split or decoded on the CPU, nothing was lost, but it ran slower) */
void
ReportOutOfMemory(const core::BatchDecodeStats &d) {
	static int64_t seen_splits = 0, seen_blocks = 0;
	if (d.oom_forward_splits == seen_splits && d.oom_gpu_blocks == seen_blocks) {
		return;
	}
	ereport(LOG, (errmsg("europeana worker %d: CUDA out of memory: %lld forward passes split in halves and %lld nvJPEG "
	                     "blocks retried smaller or decoded by the CPU threads since the worker started; no image "
	                     "was lost",
	                     worker_index + 1, static_cast<long long>(d.oom_forward_splits),
	                     static_cast<long long>(d.oom_gpu_blocks)),
	              errhint("Lower europeana.batch_size or europeana.worker_gpu_jpeg_block, or run fewer workers on "
	                      "this device.")));
	seen_splits = d.oom_forward_splits;
	seen_blocks = d.oom_gpu_blocks;
}

int
WorkerThreads() {
	if (guc_worker_threads > 0) {
		return guc_worker_threads;
	}
	const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
	return std::max(1, cores / std::max(1, guc_worker_count));
}

core::ClassifierSettings
WorkerSettings() {
	core::ClassifierSettings s = ClassifierSettingsFromGucs();
	s.device = worker_device;
	s.precision = guc_worker_precision != nullptr ? guc_worker_precision : "auto";
	/* on a GPU the CPU threads decode; LibTorch's own CPU pool would only compete */
	s.intra_op_threads = strcmp(worker_device, "cpu") == 0 ? WorkerThreads() : 1;
	s.gpu_jpeg = static_cast<core::ClassifierSettings::GpuJpeg>(guc_worker_gpu_jpeg);
	s.gpu_jpeg_block = guc_worker_gpu_jpeg_block;
	s.pad_batch = guc_batch_size;
	return s;
}

bool
CheckPrecision(char **newval, void **, GucSource) {
	const char *v = *newval;
	if (strcmp(v, "auto") == 0 || strcmp(v, "fp32") == 0 || strcmp(v, "fp16") == 0 || strcmp(v, "bf16") == 0) {
		return true;
	}
	GUC_check_errdetail("Use auto, fp32, fp16 or bf16.");
	return false;
}

const char *const kOtherModel =
    "SELECT m.model_id, m.name FROM europeana.enrichment_queue AS q JOIN europeana.models AS m USING (model_id) "
    "WHERE q.dead_at IS NULL AND q.next_attempt_at <= now() AND q.model_id <> $1 LIMIT 1";

const char *const kNextRetryMs =
    "SELECT ceil(extract(epoch FROM min(next_attempt_at) - clock_timestamp()) * 1000) "
    "FROM europeana.enrichment_queue WHERE dead_at IS NULL AND next_attempt_at > now()";

/*
 * Whether this database has the extension at the library's version; logs (once per
 * change) and shows in worker_status why not.  Needs a transaction.
 */
bool
ExtensionReady() {
	const char *installed = InstalledExtensionVersion();
	if (installed == nullptr) {
		SetWorkerState(WorkerState::WaitingForExtension);
		if (!logged_waiting) {
			ereport(LOG, (errmsg("europeana worker %d: waiting for CREATE EXTENSION europeana in database \"%s\"",
			                     worker_index + 1, guc_database),
			              errhint("Run CREATE EXTENSION europeana in that database, or point europeana.database at "
			                      "the database that has it.")));
			logged_waiting = true;
		}
		return false;
	}
	if (strcmp(installed, EUROPEANA_VERSION) != 0) {
		SetWorkerState(WorkerState::VersionMismatch);
		if (!logged_mismatch) {
			ereport(WARNING, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			                  errmsg("europeana worker %d: library version %s does not match the extension version %s "
			                         "in database \"%s\"; not enriching",
			                         worker_index + 1, EUROPEANA_VERSION, installed, guc_database),
			                  errhint("Run ALTER EXTENSION europeana UPDATE there, or restart the server if the library "
			                          "was upgraded while preloaded.")));
			logged_mismatch = true;
		}
		return false;
	}
	if (logged_waiting || logged_mismatch) {
		ereport(LOG, (errmsg("europeana worker %d: extension %s found in database \"%s\"; enriching",
		                     worker_index + 1, installed, guc_database)));
	}
	logged_waiting = logged_mismatch = false;
	return true;
}

/* The worker's own target: europeana.default_model (registered when it changed), with the
 * rows queued for "the default model".  Needs a transaction with SPI connected. */
EnrichTarget
DefaultTarget() {
	const char *model = ModelName();
	if (strcmp(model, registered_model) != 0) {
		registered_model_id = RegisterModelId(model);
		strlcpy(registered_model, model, sizeof(registered_model));
	}
	EnrichTarget target;
	target.model = registered_model;
	target.model_id = registered_model_id;
	target.take_default_rows = true;
	return target;
}

/* A model that images are queued for by name (request_enrichment), other than the
 * default; false when there is none.  Needs a transaction with SPI connected. */
bool
OtherModelTarget(EnrichTarget *other) {
	Oid t[1] = {INT4OID};
	Datum v[1] = {Int32GetDatum(registered_model_id)};
	SPI_execute_with_args(kOtherModel, 1, t, v, nullptr, true, 1);
	if (SPI_processed == 0) {
		return false;
	}
	bool isnull;
	other->model_id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	other->model = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	other->take_default_rows = false;
	return true;
}

/* The settings of this worker's next batch, as now configured, and its decode threads (on a
 * GPU, the worker's share of the cores).  Static, not a local of the callers: an ERROR from
 * SPI longjmps past their frames, which would skip a local's destructor (and leak its
 * strings). */
const core::ClassifierSettings &
BatchSettings(int *decode_threads) {
	static core::ClassifierSettings settings;
	settings = WorkerSettings();
	*decode_threads = core::DecodeThreadsFor(settings, WorkerThreads());
	return settings;
}

/*
 * One batch for europeana.default_model, or else for a model that images are queued for
 * by name (request_enrichment).  Needs a transaction with SPI connected.
 */
EnrichBatchResult
RunWorkerBatch() {
	const EnrichTarget target = DefaultTarget();
	int threads = 1;
	const core::ClassifierSettings &settings = BatchSettings(&threads);

	SetWorkerState(WorkerState::Working, target.model);
	EnrichBatchResult r = RunEnrichBatch(target, guc_batch_size, settings, threads);
	EnrichTarget other;
	if (r.claimed > 0 || !OtherModelTarget(&other)) {
		return r;
	}
	SetWorkerState(WorkerState::Working, other.model);
	return RunEnrichBatch(other, guc_batch_size, settings, threads);
}

/* How long an idle worker may sleep: until the next failed image is due for a retry, at
 * most `longest`.  Needs a transaction with SPI connected. */
long
SleepUntilNextRetry(long longest) {
	SPI_execute(kNextRetryMs, true, 1);
	bool isnull = true;
	const Datum d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull) {
		return longest;
	}
	const double until = DatumGetFloat8(DirectFunctionCall1(numeric_float8, d));
	return std::clamp(static_cast<long>(until), 10L, longest);
}

/* A worker transaction with SPI connected and a snapshot: now() is its start (a worker has
 * no client statements to set it). */
void
BeginWorkerTransaction(const char *activity) {
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, activity);
}

void
CommitWorkerTransaction() {
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
}

/*
 * One pass: a transaction that checks the extension, registers the model when needed,
 * and runs at most one batch.  Returns how long to sleep: 0 when it did work (run again
 * at once).  Runs under CallGuarded: C++ errors become ereport(ERROR), which the main
 * loop's error handler catches.
 */
long
RunOnce() {
	long sleep_ms = guc_worker_naptime_s * 1000L;
	BeginWorkerTransaction("europeana: enrichment batch");

	const auto started = std::chrono::steady_clock::now();
	EnrichBatchResult r;
	const bool ready = ExtensionReady();
	if (ready) {
		r = RunWorkerBatch();
		/* a batch none of which could be settled (not even recorded as refused) is claimable
		 * again at once: claiming it again would spin, so it waits a naptime */
		sleep_ms = r.claimed == 0 ? SleepUntilNextRetry(sleep_ms) : r.enriched + r.refused > 0 ? 0 : sleep_ms;
	}
	const auto commit_started = std::chrono::steady_clock::now();
	CommitWorkerTransaction();
	if (r.enriched + r.refused > 0) {
		MarkStartHealthy();
	}
	if (r.claimed > 0) {
		const auto now = std::chrono::steady_clock::now();
		const double ms = std::chrono::duration<double, std::milli>(now - started).count();
		RecordWorkerBatch(r.enriched, r.refused, ms);
		const core::BatchDecodeStats d = core::LastBatchDecodeStats();
		ReportOutOfMemory(d);
		if (guc_log_batches) {
			ereport(LOG, (errmsg("europeana worker %d: %d images in %.1f ms (%.0f/s): claim %.1f, detoast+decode+forward "
			                     "%.1f (detoast %.1f; decoded by GPU %d, CPU %d), write %.1f, commit %.1f ms%s",
			                     worker_index + 1, r.claimed, ms, r.claimed * 1000.0 / std::max(ms, 0.001),
			                     r.claim_ms, r.classify_ms, r.fetch_ms, d.gpu_decoded, d.cpu_decoded, r.write_ms,
			                     std::chrono::duration<double, std::milli>(now - commit_started).count(),
			                     GpuStageText(d).c_str())));
		}
	}
	if (ready) {
		SetWorkerState(WorkerState::Idle);
	}
	pgstat_report_activity(STATE_IDLE, nullptr);
	return sleep_ms;
}

/*
 * Pipelined batches (europeana.worker_pipeline): the main thread claims a batch and copies
 * its images in one transaction, hands it to the classification thread, and while that
 * decodes and runs the model, it writes the previous batch's results (another transaction)
 * and claims the next.  Rows claimed across transactions are published in shared memory
 * (shared.hpp) and settled only if unchanged (enrich_batch.hpp).  Globals, not locals: an
 * ERROR longjmps to the main loop, whose handler abandons the job and releases them.
 */
core::AsyncClassifier *classifier_thread = nullptr; /* leaked: never destroyed inside process exit */
DetachedBatch *in_flight = nullptr;                 /* being classified */
DetachedBatch *claimed_next = nullptr;              /* claimed, waiting for the thread */
DetachedBatch *settling = nullptr;                  /* classified, its results being written */
std::chrono::steady_clock::time_point in_flight_started;
std::chrono::steady_clock::time_point last_settled;
double waited_ms = 0.0; /* main thread waiting for the classification of in_flight */

bool
Pipelined() {
	return guc_worker_pipeline == kPipelineOn || (guc_worker_pipeline == kPipelineAuto && strcmp(worker_device, "cpu") != 0);
}

/* Drops the pipeline: the job is stopped and joined before the images' memory is freed;
 * the rows stay queued.  Error path and exit; never errors. */
constexpr int kStopClassifierMs = 10000;

void
AbandonPipeline() {
	if (classifier_thread != nullptr && !classifier_thread->AbandonFor(kStopClassifierMs)) {
		/* its images must not be freed under it: leave the process (the rows stay queued) */
		ereport(FATAL, (errcode(ERRCODE_INTERNAL_ERROR),
		                errmsg("europeana worker %d: the classification thread did not stop within %d s",
		                       worker_index + 1, kStopClassifierMs / 1000),
		                errhint("A device call may be hung; the worker is restarted.")));
	}
	ReleaseDetachedBatch(in_flight);
	in_flight = nullptr;
	ReleaseDetachedBatch(claimed_next);
	claimed_next = nullptr;
	ReleaseDetachedBatch(settling);
	settling = nullptr;
	ReleaseAllClaims();
}

void
AbandonPipelineAtExit(int, Datum) {
	if (classifier_thread != nullptr) {
		(void)classifier_thread->AbandonFor(kStopClassifierMs); /* the process ends either way */
	}
}

/* Claims the next batch (default model, else a model queued by name) into claimed_next.
 * Needs a transaction with SPI connected. */
void
ClaimPipelinedBatch() {
	claimed_next = ClaimDetachedBatch(DefaultTarget(), guc_batch_size);
	EnrichTarget other;
	if (claimed_next == nullptr && OtherModelTarget(&other)) {
		claimed_next = ClaimDetachedBatch(other, guc_batch_size);
	}
}

/* Hands claimed_next to the classification thread (C++ only). */
void
StartClaimedBatch() {
	int threads = 1;
	const core::ClassifierSettings &settings = BatchSettings(&threads);
	if (classifier_thread == nullptr) {
		classifier_thread = new core::AsyncClassifier();
	}
	{
		std::vector<core::BatchItem> items = DetachedBatchItems(claimed_next);
		classifier_thread->Start(std::move(items), DetachedBatchModel(claimed_next), settings, threads);
	}
	in_flight = claimed_next;
	claimed_next = nullptr;
	in_flight_started = std::chrono::steady_clock::now();
	waited_ms = 0.0;
}

/* Waits for in_flight's classification, answering a cancel or shutdown at once. */
void
WaitForInFlight() {
	const auto started = std::chrono::steady_clock::now();
	bool warned = false;
	while (!classifier_thread->WaitFor(20)) {
		if (ProcDiePending || QueryCancelPending) {
			AbandonPipeline();
			CHECK_FOR_INTERRUPTS();
		}
		if (!PostmasterIsAlive()) {
			proc_exit(1); /* its exit callbacks stop the classification thread */
		}
		const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
		if (!warned && s > 60) {
			ereport(WARNING, (errcode(ERRCODE_WARNING),
			                  errmsg("europeana worker %d: a batch of %s has been classifying for %.0f s",
			                         worker_index + 1, DetachedBatchModel(in_flight), s),
			                  errhint("A device call may be hung; pg_terminate_backend() restarts the worker.")));
			warned = true;
		}
	}
	waited_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
}

/*
 * One step of the pipeline: claim the next batch (unless draining), then settle the batch
 * in flight, starting the next one's classification before writing.  Returns how long to
 * sleep: 0 while there is work.  Runs under CallGuarded.
 */
long
RunPipelinedOnce(bool drain) {
	long sleep_ms = guc_worker_naptime_s * 1000L;
	bool ready = true;
	if (!drain && claimed_next == nullptr) {
		BeginWorkerTransaction("europeana: claiming a batch");
		ready = ExtensionReady();
		if (ready) {
			SetWorkerState(WorkerState::Working, ModelName());
			ClaimPipelinedBatch();
			if (claimed_next == nullptr && in_flight == nullptr) {
				sleep_ms = SleepUntilNextRetry(sleep_ms);
			}
		}
		CommitWorkerTransaction();
	}
	if (in_flight == nullptr) {
		if (claimed_next != nullptr) {
			StartClaimedBatch();
			return 0;
		}
		if (ready) {
			SetWorkerState(WorkerState::Idle);
		}
		pgstat_report_activity(STATE_IDLE, nullptr);
		return drain ? 0 : sleep_ms;
	}

	WaitForInFlight();
	const auto done_at = std::chrono::steady_clock::now();
	const double classify_ms = std::chrono::duration<double, std::milli>(done_at - in_flight_started).count();
	const core::BatchDecodeStats decoded = core::LastBatchDecodeStats();
	{
		std::vector<core::BatchOutcome> outcomes = classifier_thread->Finish();
		SetDetachedOutcomes(in_flight, outcomes);
	}
	settling = in_flight;
	in_flight = nullptr;
	const auto since = std::max(last_settled, in_flight_started);
	if (claimed_next != nullptr) {
		StartClaimedBatch(); /* the thread decodes the next batch while this one is written */
	}

	BeginWorkerTransaction("europeana: writing a batch");
	const EnrichBatchResult r = WriteDetachedBatch(settling);
	const auto commit_started = std::chrono::steady_clock::now();
	CommitWorkerTransaction();
	if (r.enriched + r.refused > 0) {
		MarkStartHealthy();
	}
	ReleaseDetachedBatch(settling);
	settling = nullptr;

	const auto now = std::chrono::steady_clock::now();
	last_settled = now;
	const double ms = std::chrono::duration<double, std::milli>(now - since).count();
	RecordWorkerBatch(r.enriched, r.refused, ms);
	ReportOutOfMemory(decoded);
	if (guc_log_batches) {
		ereport(LOG, (errmsg("europeana worker %d: %d images in %.1f ms (%.0f/s), pipelined: claim+copy %.1f, "
		                     "decode+forward %.1f (main thread waited %.1f; decoded by GPU %d, CPU %d), write %.1f, "
		                     "commit %.1f ms, stale %d%s",
		                     worker_index + 1, r.claimed, ms, r.claimed * 1000.0 / std::max(ms, 0.001), r.claim_ms,
		                     classify_ms, waited_ms, decoded.gpu_decoded, decoded.cpu_decoded, r.write_ms,
		                     std::chrono::duration<double, std::milli>(now - commit_started).count(), r.stale,
		                     GpuStageText(decoded).c_str())));
	}
	if (in_flight == nullptr) {
		SetWorkerState(WorkerState::Idle);
	}
	pgstat_report_activity(STATE_IDLE, nullptr);
	/* a batch none of which could be settled (not even recorded as refused) is claimable
	 * again at once: claiming it again would spin, so, with nothing in flight, a naptime */
	if (r.claimed > 0 && r.enriched + r.refused == 0 && in_flight == nullptr) {
		return guc_worker_naptime_s * 1000L;
	}
	return 0;
}

} // namespace

void
RegisterWorkers() {
	DefineCustomIntVariable("europeana.worker_count", "Background enrichment workers started with the server.",
	                        "0 disables them; each worker takes the next device of europeana.worker_devices.",
	                        &guc_worker_count, 1, 0, 64, PGC_POSTMASTER, 0, nullptr, nullptr, nullptr);
	DefineCustomStringVariable("europeana.database", "Database the background workers enrich.",
	                           "The workers wait, with a log line, until the extension is created there.",
	                           &guc_database, "postgres", PGC_POSTMASTER, 0, nullptr, nullptr, nullptr);
	DefineCustomStringVariable("europeana.worker_devices", "Devices of the workers, assigned in turn: cpu, cuda:N.",
	                           "A worker picks its device when it starts; restart the workers to move them.",
	                           &guc_worker_devices, "cpu", PGC_SIGHUP, 0, CheckDevices, nullptr, nullptr);
	DefineCustomIntVariable("europeana.batch_size", "Images per worker batch (one transaction, one forward pass).",
	                        nullptr, &guc_batch_size, 16, 1, 1024, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
	DefineCustomIntVariable("europeana.worker_naptime", "Longest sleep of an idle worker (safety net).",
	                        "Workers are woken when a transaction that queues images commits; this only bounds the "
	                        "sleep in case a wake-up is missed (e.g. a prepared transaction).",
	                        &guc_worker_naptime_s, 10, 1, 3600, PGC_SIGHUP, GUC_UNIT_S, nullptr, nullptr, nullptr);
	DefineCustomIntVariable("europeana.worker_threads", "Decode threads per worker, and LibTorch threads on the CPU.",
	                        "0: the machine's cores divided by europeana.worker_count.", &guc_worker_threads, 0, 0, 256,
	                        PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
	DefineCustomEnumVariable("europeana.worker_gpu_jpeg", "On CUDA, decode JPEGs on the GPU (nvJPEG).",
	                         "shared: the GPU decodes its share of the JPEGs (from both sides' measured rates) while "
	                         "the decode threads decode the rest and the other images; on: the GPU decodes every "
	                         "JPEG it can, the threads only the other images (less CPU time); off: the threads "
	                         "decode everything. Builds without nvJPEG, and CPU workers, ignore it.",
	                         &guc_worker_gpu_jpeg, static_cast<int>(core::ClassifierSettings::GpuJpeg::Shared),
	                         kGpuJpegOptions, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
	DefineCustomIntVariable("europeana.worker_gpu_jpeg_block", "JPEGs per nvJPEG batched decode on CUDA.",
	                        "Each block is decoded by one call and preprocessed by one kernel launch; the next "
	                        "block's host work overlaps the previous block's decode. A block also ends at 2 GB of "
	                        "decoded pixels.",
	                        &guc_worker_gpu_jpeg_block, 256, 1, 1024, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
	DefineCustomEnumVariable("europeana.worker_pipeline",
	                         "Overlap a worker's database work with the classification of its batches.",
	                         "auto: on for CUDA workers, off on the CPU (where the forward pass needs every core). "
	                         "On, a batch is classified on a thread of its own while the worker writes the previous "
	                         "batch and claims the next.",
	                         &guc_worker_pipeline, kPipelineAuto, kPipelineOptions, PGC_SIGHUP, 0, nullptr, nullptr,
	                         nullptr);
	DefineCustomBoolVariable("europeana.log_batches", "Log the time of every worker batch, by stage.", nullptr,
	                         &guc_log_batches, false, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
	DefineCustomStringVariable("europeana.worker_precision", "Precision of the workers' models on CUDA.",
	                           "auto: fp16 on CUDA (with channels_last inputs), fp32 on the CPU; or fp32, fp16, bf16.",
	                           &guc_worker_precision, "auto", PGC_SIGHUP, 0, CheckPrecision, nullptr, nullptr);
	if (guc_worker_count <= 0) {
		return;
	}
	RequestWorkerSharedMemory(guc_worker_count);
	for (int i = 0; i < guc_worker_count; i++) {
		BackgroundWorker worker;
		memset(&worker, 0, sizeof(worker));
		worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
		worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
		worker.bgw_restart_time = kRestartSeconds;
		strlcpy(worker.bgw_library_name, "europeana", BGW_MAXLEN);
		strlcpy(worker.bgw_function_name, "europeana_worker_main", BGW_MAXLEN);
		snprintf(worker.bgw_name, BGW_MAXLEN, "europeana worker %d", i + 1);
		strlcpy(worker.bgw_type, "europeana worker", BGW_MAXLEN);
		worker.bgw_main_arg = Int32GetDatum(i);
		RegisterBackgroundWorker(&worker);
	}
}

} // namespace europeana::pg

/*
 * Worker entry point.  No C++ object with a destructor lives in this frame: errors
 * longjmp back to the sigsetjmp below.
 */
void
europeana_worker_main(Datum main_arg) {
	using namespace europeana::pg;
	worker_index = DatumGetInt32(main_arg);
	europeana::core::InstallCrashTrace("europeana worker");
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	MarkAsWorker();
	BackgroundWorkerInitializeConnection(guc_database, nullptr, 0);
	ChooseDevice(worker_index);
	TuneMalloc(strcmp(worker_device, "cpu") == 0); /* before any thread exists */
	AttachWorkerSlot(worker_index, worker_device);
	before_shmem_exit(AbandonPipelineAtExit, 0); /* runs before the slot is detached */
	GuardAgainstCrashLoop(worker_index);         /* may wait: a crash loop restarts the server */
	pgstat_report_appname(psprintf("europeana worker %d", worker_index + 1));

	MemoryContext loop_cxt = AllocSetContextCreate(TopMemoryContext, "europeana worker", ALLOCSET_DEFAULT_SIZES);
	sigjmp_buf local_sigjmp_buf;
	if (sigsetjmp(local_sigjmp_buf, 1) != 0) {
		/* an ERROR in RunOnce: report it, clean up, back off, go on */
		error_context_stack = nullptr;
		HOLD_INTERRUPTS();
		MemoryContextSwitchTo(loop_cxt);
		ErrorData *edata = CopyErrorData();
		EmitErrorReport();
		AbortOutOfAnyTransaction();
		pgstat_report_activity(STATE_IDLE, nullptr);
		RecordWorkerError(edata->message);
		MemoryContextSwitchTo(TopMemoryContext);
		FlushErrorState();
		MemoryContextReset(loop_cxt);
		registered_model[0] = '\0'; /* re-register: the failed transaction may have held it */
		AbandonPipeline();           /* its rows stay queued */
		RESUME_INTERRUPTS();
		consecutive_errors = std::min(consecutive_errors + 1, 6);
		const long backoff_ms = std::min(60000L, 1000L << consecutive_errors);
		(void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, backoff_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
	PG_exception_stack = &local_sigjmp_buf;

	{
		/* phase 2 in a frame of its own: what decodes on this device, for the log line */
		char decoders[128] = "";
		try {
			strlcpy(decoders, europeana::core::DeviceDecoders(worker_device).c_str(), sizeof(decoders));
		} catch (const std::exception &e) {
			strlcpy(decoders, e.what(), sizeof(decoders));
		}
		ereport(LOG, (errmsg("europeana worker %d started on %s (decoding: %s), database \"%s\", model %s",
		                     worker_index + 1, worker_device, decoders, guc_database, ModelName())));
	}
	for (;;) {
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending) {
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		MemoryContextSwitchTo(loop_cxt);
		const long sleep_ms = DatumGetInt64(CallGuarded(
		    [](FunctionCallInfo) -> Datum {
			    /* a pipeline switched off drains what it holds first */
			    const bool pipelined = Pipelined();
			    if (pipelined || in_flight != nullptr || claimed_next != nullptr) {
				    return Int64GetDatum(RunPipelinedOnce(!pipelined));
			    }
			    return Int64GetDatum(RunOnce());
		    },
		    nullptr));
		MemoryContextReset(loop_cxt);
		consecutive_errors = 0;
		if (sleep_ms > 0) {
			WorkerHeartbeat();
			(void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, sleep_ms, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
		}
	}
}
