/*
 * classifier.hpp — classify image bytes with a TorchScript model (public core API).
 *
 * This header is plain C++ (no LibTorch, no OpenCV) so the PostgreSQL glue can include
 * it.  Models are loaded lazily, once per process, verified against their sha256,
 * frozen and optimised for inference, and cached; a changed file on disk is noticed
 * (stat) and reloaded.  Calls may start LibTorch/OpenCV thread pools, so they run with
 * all signals blocked (SignalBlockScope) and must only be made from the process's main
 * thread; nothing here calls PostgreSQL.  Errors are europeana::Error.
 */
#pragma once

#include "core/classify/model_spec.hpp"
#include "core/common/bytes.hpp"
#include "core/common/error.hpp"
#include "core/common/interrupt.hpp"
#include "core/common/no_postgres.hpp"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace europeana::core {

struct ClassifierSettings {
	std::string model_dir;
	uint64_t max_image_pixels = 100000000;
	int intra_op_threads = 1;
	/* "cpu", "cuda" or "cuda:N". A model is loaded once per device and precision. */
	std::string device = "cpu";
	/* "auto" (fp16 on CUDA, fp32 on the CPU), "fp32", "fp16" or "bf16": the dtype of the
	 * model's weights and activations (converted before freezing; scores are computed in
	 * fp32). On CUDA, inputs are also given channels_last, which cuDNN prefers. */
	std::string precision = "auto";
	/* Batch items decoded before their forward pass is launched (CUDA only): the GPU runs
	 * one chunk while the decode threads prepare the next. 0: the whole batch at once. */
	int pipeline_chunk = 64;
	/* On CUDA, JPEGs can be decoded on the GPU (nvJPEG, in blocks of gpu_jpeg_block; builds
	 * without nvJPEG ignore it):
	 *   Off:    the decode threads decode everything;
	 *   On:     the GPU decodes every JPEG it can (baseline, 3 components, no EXIF rotation),
	 *           the threads only the other images;
	 *   Shared: the GPU takes the JPEGs it suits in the back part of the batch (its share,
	 *           which follows both sides' measured rates), the threads everything else.
	 * Measured on H200 with 16 threads (bench/gpu/RESULTS.md). */
	enum class GpuJpeg { Off, On, Shared };
	GpuJpeg gpu_jpeg = GpuJpeg::Shared;
	int gpu_jpeg_block = 256;
	/* On CUDA, a batch decoded by nvJPEG is padded to this many rows for its forward pass
	 * (a worker passes its batch size), so that the network always sees one shape; chunks
	 * are padded to pipeline_chunk.  0: no padding. */
	int pad_batch = 0;
};

/* Whether this build and machine can run `device` ("cpu", "cuda", "cuda:N"); when not,
 * *why says why. */
bool DeviceAvailable(const std::string &device, std::string *why);

struct RankedConcept {
	std::string concept; /* empty: none of the vocabulary (mapped models only) */
	float score = 0.0f;
	int top_label_index = -1; /* the output that contributes most to this concept */
	std::string top_label;
	float top_label_score = 0.0f;
};

struct Classification {
	std::string model_name;
	std::string model_version;
	int top_label_index = -1;
	std::string top_label;
	float top_label_score = 0.0f;
	std::vector<RankedConcept> ranked; /* descending score */
	int decode_reduction = 1;
	uint32_t width = 0; /* of the stored image, from its header */
	uint32_t height = 0;
};

/* ClassifyImage decodes, preprocesses and runs one image through `model_name`. */
Classification ClassifyImage(ByteView image, const std::string &model_name, const ClassifierSettings &settings);

struct BatchItem {
	int64_t key = 0;
	ByteView image; /* must stay valid for the whole call */
};

struct BatchOutcome {
	int64_t key = 0;
	bool ok = false;
	Classification result;                    /* when ok */
	ErrorKind error_kind = ErrorKind::Internal; /* when !ok: why this image was refused */
	std::string error;
	std::string hint;
};

/* ClassifyBatch decodes and preprocesses `items` on `decode_threads` threads (the calling
 * thread included; threads never call PostgreSQL), runs one forward pass over the images
 * that decoded, and returns one outcome per item in input order: a bad image is an
 * outcome with its error, never a failed batch.  `should_stop` is polled by the calling
 * thread between its items; when it says stop, throws Error(Cancelled).  A forward-pass
 * failure (e.g. out of memory) throws for the whole batch so the caller can split it. */
/* How many threads should decode a batch classified under `settings`, for a caller that
 * can spare `available`: on the CPU with a multi-threaded forward pass, the pass's OpenMP
 * team owns the cores, and a decode pool beside it oversubscribed them (measured: the same
 * worker ran at 230 or at 70 images/s from one start to the next), so the calling thread
 * decodes alone. */
int DecodeThreadsFor(const ClassifierSettings &settings, int available) noexcept;

/* Supplies the bytes of item `index` when ClassifyBatch is given items without them:
 * called on the calling thread only, in index order, while the decode threads work on the
 * items already supplied (so a caller that must read images one by one, e.g. from its
 * database, overlaps that with decoding and the forward passes).  The bytes must stay valid
 * for the whole call; it may throw. */
using FetchImage = std::function<ByteView(size_t index)>;

std::vector<BatchOutcome> ClassifyBatch(const std::vector<BatchItem> &items, const std::string &model_name,
                                        const ClassifierSettings &settings, int decode_threads,
                                        const ShouldStop &should_stop, const FetchImage &fetch = nullptr);

/* ClassifyBatch, and when the batch as a whole fails with Internal or ResourceLimit (e.g.
 * out of memory) each item alone, so that only the image that causes it is refused.
 * Cancellation and an unusable model or device still throw. */
std::vector<BatchOutcome> ClassifyBatchOrEach(const std::vector<BatchItem> &items, const std::string &model_name,
                                              const ClassifierSettings &settings, int decode_threads,
                                              const ShouldStop &should_stop, const FetchImage &fetch = nullptr);

/* How the last ClassifyBatch of this process decoded its images (for diagnostics). */
struct BatchDecodeStats {
	int gpu_decoded = 0; /* by nvJPEG */
	int cpu_decoded = 0; /* by the decode threads (and the calling thread) */
	/* With nvJPEG: the GPU stream's time in the batch's stages (CUDA events), in ms; -1 when
	 * not measured.  other: idle, or uploading CPU-decoded rows. */
	double gpu_decode_ms = -1, gpu_preprocess_ms = -1, gpu_forward_ms = -1, gpu_other_ms = -1;
	/* With nvJPEG, the classifying thread's time: reading the headers, in nvJPEG calls,
	 * waiting for the decode threads, queueing the uploads of CPU-decoded rows (ms). */
	double host_sniff_ms = 0, host_submit_ms = 0, host_join_ms = 0, host_upload_ms = 0;
	/* Since the process started: forward passes split in halves after a CUDA out-of-memory,
	 * and nvJPEG blocks that found no device memory (retried smaller, or decoded by the CPU). */
	int64_t oom_forward_splits = 0, oom_gpu_blocks = 0;
	/* nvJPEG's failures in this batch (images it could not read, block calls that failed and
	 * were retried in halves), and why, the last time */
	int gpu_failures = 0;
	char gpu_last_failure[160] = ""; /* not a std::string: callers keep this across PostgreSQL calls */
};
BatchDecodeStats LastBatchDecodeStats() noexcept;

/* Which decoders a batch on `device` uses, in words (e.g. "CPU threads + nvJPEG hardware"). */
std::string DeviceDecoders(const std::string &device);

/* VerifyModel checks that the weights exist and match the metadata's sha256 without
 * loading them into LibTorch; returns the spec. */
ModelSpec VerifyModel(const std::string &model_dir, const std::string &model_name);

/* LoadedModelCount tells how many models this process holds (for diagnostics). */
int LoadedModelCount() noexcept;

/* ReleaseModels drops every cached model (called from a process-exit callback). */
void ReleaseModels() noexcept;

} // namespace europeana::core
