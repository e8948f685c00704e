/*
 * gpu_jpeg.cpp — nvJPEG batched decode into the model's input tensor (see gpu_jpeg.hpp).
 */
#include "core/classify/gpu_jpeg.hpp"

#include "core/classify/gpu_preprocess.hpp"
#include "core/common/error.hpp"

#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAGuard.h>
#include <array>
#include <atomic>
#include <cmath>
#include <cstring>
#include <map>
#include <mutex>
#include <nvjpeg.h>
#include <string>

namespace europeana::core {

namespace {

/* Two batched-decode states used in turn: a block's state is re-initialised only once the
 * decode that last used it has finished on the stream (its event), so that the host part of
 * one block's decode (parsing, submission) overlaps the GPU part of the previous one. */
constexpr int kStates = 2;

struct NvJpeg {
	nvjpegHandle_t handle = nullptr;
	nvjpegJpegState_t state[kStates] = {nullptr, nullptr};
	/* recorded after the state's last block: its decode and the preprocessing kernel that
	 * reads the decoded pixels */
	cudaEvent_t decoded[kStates] = {nullptr, nullptr};
	/* That block's device buffers (the decoded pixels, the kernel's jobs), held until its
	 * event has completed.  LibTorch's cache hands a freed buffer to the next block at once,
	 * which is safe only for work ordered on the stream.  Measured on an H100 before this
	 * (bench/gpu/faults.sh): in batches that took several nvJPEG calls (failed calls retried
	 * in halves), 83 of 768 good JPEGs, mostly in runs of consecutive ones, got another
	 * top-1 label than in a clean run, labels of damaged pictures ("window shade",
	 * "hamper"), while the clean run repeated itself exactly and CPU decoding changed none.
	 * The likely cause: the engines write a block's pixels on nvJPEG's own streams, not
	 * after the previous block's preprocessing kernel, into a buffer that kernel was still
	 * reading.  Not yet re-measured with the buffers held. */
	at::Tensor held[kStates][2];
	int next = 0;
	std::string backend; /* the one nvjpegCreateEx accepted */
	std::string error;
};

/* One per device, for the life of the process (never destroyed: process exit skips it). */
std::map<int, NvJpeg *> &
States() {
	static std::map<int, NvJpeg *> states;
	return states;
}

/* The stream is past this point when the slot's event has completed.  Should the event not
 * be recorded, the stream is waited for at once: the slot's older event would not cover the
 * buffers held now. */
void
RecordSlot(NvJpeg *s, int slot, cudaStream_t stream) noexcept {
	if (cudaEventRecord(s->decoded[slot], stream) != cudaSuccess) {
		(void)cudaGetLastError();
		(void)cudaStreamSynchronize(stream);
		(void)cudaGetLastError();
	}
}

/* Waits for slot k's last block (an event not recorded yet is complete at once); once it is
 * over, its held buffers go back to the cache.  Returns the wait's error. */
cudaError_t
WaitSlot(NvJpeg *s, int k) noexcept {
	const cudaError_t waited = cudaEventSynchronize(s->decoded[k]);
	if (waited == cudaSuccess) {
		s->held[k][0] = at::Tensor();
		s->held[k][1] = at::Tensor();
	} else {
		(void)cudaGetLastError(); /* not left for the next call to find */
	}
	return waited;
}

/* The blocks of `s` are over: their held buffers go back to the cache. */
void
ReleaseHeld(NvJpeg *s) noexcept {
	for (int k = 0; k < kStates; k++) {
		if (s->decoded[k] != nullptr) {
			(void)WaitSlot(s, k);
		}
	}
}

NvJpeg *
StateFor(int device) {
	std::map<int, NvJpeg *> &states = States();
	auto it = states.find(device);
	if (it != states.end()) {
		return it->second;
	}
	auto *s = new NvJpeg();
	c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(device));
	/* The GPU's JPEG engines first: measured on H200 with 2.5 MP photos, a worker decoding
	 * every JPEG with them reached 1,800-2,300 images/s end to end, while the default backend,
	 * whose Huffman stage runs on the calling thread, managed only ~130 images/s.  GPU
	 * Huffman, then the default backend, where there are no engines. */
	const std::pair<nvjpegBackend_t, const char *> backends[] = {{NVJPEG_BACKEND_HARDWARE, "hardware"},
	                                                              {NVJPEG_BACKEND_GPU_HYBRID, "gpu-hybrid"},
	                                                              {NVJPEG_BACKEND_DEFAULT, "default"}};
	for (const auto &[backend, name] : backends) {
		if (nvjpegCreateEx(backend, nullptr, nullptr, 0, &s->handle) == NVJPEG_STATUS_SUCCESS) {
			s->backend = name;
			break;
		}
		s->handle = nullptr;
	}
	if (s->handle == nullptr) {
		s->error = "nvjpegCreateEx failed for every backend";
	}
	for (int k = 0; k < kStates && s->handle != nullptr; k++) {
		if (nvjpegJpegStateCreate(s->handle, &s->state[k]) != NVJPEG_STATUS_SUCCESS ||
		    cudaEventCreateWithFlags(&s->decoded[k], cudaEventDisableTiming) != cudaSuccess) {
			s->error = "nvjpegJpegStateCreate or cudaEventCreate failed";
			s->handle = nullptr;
		}
	}
	states[device] = s;
	return s;
}

/* The stage timeline of the current batch: events recorded on the stream at stage ends,
 * read once the stream has been synchronised (after the forward pass). */
struct Timeline {
	int device = -1;      /* of the open timeline; -1: none */
	int pool_device = -1; /* of the events in the pool */
	std::vector<cudaEvent_t> pool; /* reused from batch to batch */
	std::vector<GpuStage> stages;  /* stages[k]: what the stream did between event k-1 and k */
	bool broken = false;
};

Timeline timeline;

cudaEvent_t
NextEvent() {
	const size_t k = timeline.stages.size();
	if (k == timeline.pool.size()) {
		cudaEvent_t e = nullptr;
		if (cudaEventCreate(&e) != cudaSuccess) {
			timeline.broken = true;
			return nullptr;
		}
		timeline.pool.push_back(e);
	}
	return timeline.pool[k];
}

cudaStream_t
StreamOf(int device) {
	return at::cuda::getCurrentCUDAStream(static_cast<c10::DeviceIndex>(device)).stream();
}

std::atomic<int64_t> blocks_out_of_memory {0};

/* Why nvJPEG last gave images back, and how often it has (the batch log shows them) */
std::mutex failure_mu;
std::string last_failure;
std::atomic<int64_t> failures {0};

void
NoteFailure(const std::string &what) {
	std::lock_guard<std::mutex> lock(failure_mu);
	last_failure = what;
	failures.fetch_add(1);
}

} // namespace

void
GpuJpegReleaseBuffers(int device) noexcept {
	const auto it = States().find(device);
	if (it == States().end()) {
		return;
	}
	try {
		c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(device));
		ReleaseHeld(it->second);
	} catch (const std::exception &) {
		/* the device cannot be selected: its buffers stay held */
	}
}

int64_t
GpuJpegBlocksOutOfMemory() noexcept {
	return blocks_out_of_memory.load();
}

int64_t
GpuJpegFailures(std::string *last) {
	std::lock_guard<std::mutex> lock(failure_mu);
	if (last != nullptr) {
		*last = last_failure;
	}
	return failures.load();
}

bool
GpuJpegAvailable(int device, std::string *backend) {
	NvJpeg *s = StateFor(device);
	*backend = s->handle == nullptr ? s->error : s->backend;
	return s->handle != nullptr;
}

void
GpuTimelineStart(int device) {
	if (device != timeline.pool_device) { /* events belong to the device they were made on */
		for (cudaEvent_t e : timeline.pool) {
			cudaEventDestroy(e);
		}
		timeline.pool.clear();
		timeline.pool_device = device;
	}
	timeline.device = device;
	timeline.stages.clear();
	timeline.broken = false;
	GpuTimelineMark(GpuStage::Start);
}

void
GpuTimelineMark(GpuStage stage) {
	if (timeline.device < 0 || timeline.broken) {
		return;
	}
	cudaEvent_t e = NextEvent();
	if (e == nullptr || cudaEventRecord(e, StreamOf(timeline.device)) != cudaSuccess) {
		timeline.broken = true;
		return;
	}
	timeline.stages.push_back(stage);
}

GpuStageTimes
GpuTimelineRead() {
	GpuStageTimes t;
	if (timeline.device < 0 || timeline.broken || timeline.stages.size() < 2) {
		timeline.device = -1;
		return t;
	}
	for (size_t k = 1; k < timeline.stages.size(); k++) {
		float ms = 0.0f;
		if (cudaEventElapsedTime(&ms, timeline.pool[k - 1], timeline.pool[k]) != cudaSuccess) {
			timeline.device = -1;
			return GpuStageTimes();
		}
		switch (timeline.stages[k]) {
		case GpuStage::Decode:
			t.decode_ms += ms;
			break;
		case GpuStage::Preprocess:
			t.preprocess_ms += ms;
			break;
		case GpuStage::Forward:
			t.forward_ms += ms;
			break;
		default:
			t.other_ms += ms;
			break;
		}
	}
	t.valid = true;
	timeline.device = -1;
	return t;
}

namespace {

/* One block's outcome: per item, whether it was decoded; the items nvJPEG accepted whose
 * block call failed (they may decode in a smaller block); whether that was for memory. */
struct BlockResult {
	std::vector<bool> ok;
	std::vector<size_t> failed;
	bool out_of_memory = false;
};

/* GpuDecodeJpegs for one nvJPEG call. */
BlockResult
DecodeBlock(int device, const std::vector<ByteView> &jpegs, const std::vector<int64_t> &rows, const InputSpec &spec,
            const at::Tensor &dest) {
	const size_t n = jpegs.size();
	BlockResult result;
	result.ok.assign(n, false);
	std::vector<bool> &ok = result.ok;
	NvJpeg *s = StateFor(device);
	if (s->handle == nullptr || n == 0) {
		return result;
	}
	c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(device));
	cudaStream_t stream = StreamOf(device);

	/* sizes first: one device buffer holds every decoded image (interleaved RGB) */
	std::vector<ResampleJob> jobs;
	std::vector<size_t> offsets;
	std::vector<size_t> take; /* items nvJPEG accepts */
	size_t total = 0;
	for (size_t k = 0; k < n; k++) {
		int components = 0;
		nvjpegChromaSubsampling_t subsampling;
		int w[NVJPEG_MAX_COMPONENT] = {0}, h[NVJPEG_MAX_COMPONENT] = {0};
		const nvjpegStatus_t info =
		    nvjpegGetImageInfo(s->handle, jpegs[k].data, jpegs[k].size, &components, &subsampling, w, h);
		if (info != NVJPEG_STATUS_SUCCESS || components != 3 || w[0] <= 0 || h[0] <= 0) {
			NoteFailure("nvjpegGetImageInfo: status " + std::to_string(static_cast<int>(info)) + ", " +
			            std::to_string(components) + " components, " + std::to_string(w[0]) + "x" +
			            std::to_string(h[0]));
			continue;
		}
		ResampleJob job = ResampleJobFor(spec, w[0], h[0]);
		job.row = rows[k];
		jobs.push_back(job);
		offsets.push_back(total);
		total += static_cast<size_t>(w[0]) * h[0] * 3;
		take.push_back(k);
	}
	if (take.empty()) {
		return result;
	}
	/* nvJPEG allocates its own device buffers (the bitstreams, the engines' work areas) with
	 * cudaMalloc, outside LibTorch's cache: on a device left without room for them (another
	 * process has filled it), the block goes back rather than into nvJPEG's failure paths */
	size_t stream_bytes = 0;
	for (size_t k : take) {
		stream_bytes += jpegs[k].size;
	}
	const size_t headroom = (size_t {256} << 20) + 2 * stream_bytes;
	size_t free_bytes = 0, total_bytes = 0;
	if (cudaMemGetInfo(&free_bytes, &total_bytes) == cudaSuccess && free_bytes < headroom) {
		/* the held buffers of finished blocks, and LibTorch's cached blocks, then look again */
		ReleaseHeld(s);
		c10::cuda::CUDACachingAllocator::emptyCache();
		if (cudaMemGetInfo(&free_bytes, &total_bytes) == cudaSuccess && free_bytes < headroom) {
			blocks_out_of_memory.fetch_add(1);
			NoteFailure("device memory low for nvJPEG: " + std::to_string(free_bytes >> 20) + " MB free, " +
			            std::to_string(headroom >> 20) + " MB wanted for a block of " + std::to_string(take.size()));
			return result; /* smaller blocks would want nearly as much: the CPU decodes them */
		}
	}
	/* The state's previous block (decode and preprocessing) must be over: its buffers go back
	 * to the cache, and its state is re-initialised for this block (block sizes vary).  The
	 * other state's block may still run. */
	const int slot = s->next;
	s->next = (s->next + 1) % kStates;
	const cudaError_t waited = WaitSlot(s, slot);
	if (waited != cudaSuccess) {
		NoteFailure(std::string("waiting for the previous decode: ") + cudaGetErrorString(waited));
		return result;
	}
	at::Tensor buffer;
	try {
		buffer = at::empty({static_cast<int64_t>(total)},
		                   at::TensorOptions().dtype(at::kByte).device(at::kCUDA, static_cast<c10::DeviceIndex>(device)));
	} catch (const c10::OutOfMemoryError &) {
		blocks_out_of_memory.fetch_add(1);
		NoteFailure("no device memory for a block of " + std::to_string(take.size()) + " images (" +
		            std::to_string(total >> 20) + " MB)");
		result.failed = take;
		result.out_of_memory = true;
		return result; /* the device is full: smaller blocks, or the CPU */
	}
	std::vector<const unsigned char *> datas;
	std::vector<size_t> lengths;
	std::vector<nvjpegImage_t> outputs;
	for (size_t t = 0; t < take.size(); t++) {
		datas.push_back(jpegs[take[t]].data);
		lengths.push_back(jpegs[take[t]].size);
		nvjpegImage_t out {};
		out.channel[0] = buffer.data_ptr<uint8_t>() + offsets[t];
		out.pitch[0] = static_cast<unsigned int>(jobs[t].width) * 3;
		outputs.push_back(out);
		jobs[t].src = out.channel[0];
	}
	const int batch = static_cast<int>(take.size());
	GpuTimelineMark(GpuStage::Other);
	nvjpegStatus_t status = nvjpegDecodeBatchedInitialize(s->handle, s->state[slot], batch, 1, NVJPEG_OUTPUT_RGBI);
	const char *call = "nvjpegDecodeBatchedInitialize";
	if (status == NVJPEG_STATUS_SUCCESS) {
		status = nvjpegDecodeBatched(s->handle, s->state[slot], datas.data(), lengths.data(), outputs.data(), stream);
		call = "nvjpegDecodeBatched";
	}
	const bool decoding = status == NVJPEG_STATUS_SUCCESS;
	if (!decoding) {
		/* e.g. one corrupt stream, or one the engines do not support: the block is retried in
		 * halves (GpuDecodeJpegs).  Any work the failed call left on nvJPEG's own streams
		 * ends before this block's buffer goes back to the cache and the halves reuse it.
		 * Failures are rare; a full wait costs little.  (This wait alone did not keep good
		 * JPEGs from being decoded into overwritten buffers: see NvJpeg::held.) */
		(void)cudaDeviceSynchronize();
		(void)cudaGetLastError();
		RecordSlot(s, slot, stream); /* nothing of it is left in flight */
		NoteFailure(std::string(call) + ": status " + std::to_string(static_cast<int>(status)) + " for a block of " +
		            std::to_string(batch));
		result.failed = take;
		return result;
	}
	GpuTimelineMark(GpuStage::Decode);
	/* from here the engines may be writing the buffer: held until the slot's event */
	s->held[slot][0] = buffer;
	RecordSlot(s, slot, stream);

	/* the jobs travel through pinned memory (an asynchronous copy, ordered on the stream) */
	const int64_t job_bytes = static_cast<int64_t>(jobs.size() * sizeof(ResampleJob));
	at::Tensor jobs_dev;
	try {
		at::Tensor jobs_host = at::empty({job_bytes}, at::TensorOptions().dtype(at::kByte).pinned_memory(true));
		std::memcpy(jobs_host.data_ptr<uint8_t>(), jobs.data(), static_cast<size_t>(job_bytes));
		jobs_dev = jobs_host.to(buffer.device(), /*non_blocking=*/true);
	} catch (const c10::Error &e) {
		NoteFailure(std::string("no memory for the preprocessing jobs: ") + e.what_without_backtrace());
		result.failed = take;
		result.out_of_memory = true; /* retried in smaller blocks, down to 16, then the CPU */
		return result;
	}
	ResampleNorm norm {};
	for (int c = 0; c < 3; c++) {
		norm.mean[c] = spec.mean[static_cast<size_t>(c)];
		norm.inv_std[c] = 1.0f / spec.std[static_cast<size_t>(c)];
	}
	norm.bgr = spec.rgb ? 0 : 1;
	const cudaError_t launched = LaunchResample(reinterpret_cast<const ResampleJob *>(jobs_dev.data_ptr<uint8_t>()),
	                                            batch, norm, spec.crop_width, spec.crop_height,
	                                            dest.data_ptr<float>(), stream);
	/* the buffers stay held, whatever happens to the launch, until the stream is past the
	 * kernel */
	s->held[slot][1] = jobs_dev;
	RecordSlot(s, slot, stream);
	if (launched != cudaSuccess) {
		NoteFailure(std::string("preprocessing kernel: ") + cudaGetErrorString(launched));
		return result;
	}
	GpuTimelineMark(GpuStage::Preprocess);
	for (size_t k : take) {
		ok[k] = true;
	}
	return result;
}

} // namespace

std::vector<bool>
GpuDecodeJpegs(int device, const std::vector<ByteView> &jpegs, const std::vector<int64_t> &rows, const InputSpec &spec,
               const at::Tensor &dest) {
	BlockResult r = DecodeBlock(device, jpegs, rows, spec, dest);
	/* a failed call is retried in halves: one stream the decoder refuses sends only itself
	 * to the CPU (log2(block) more calls); a block without memory is halved down to 16 */
	const size_t smallest = r.out_of_memory ? 16 : 1;
	if (r.failed.size() > smallest) {
		const size_t half = r.failed.size() / 2;
		for (const auto &[from, to] : {std::pair<size_t, size_t> {0, half}, {half, r.failed.size()}}) {
			std::vector<ByteView> part;
			std::vector<int64_t> part_rows;
			for (size_t f = from; f < to; f++) {
				part.push_back(jpegs[r.failed[f]]);
				part_rows.push_back(rows[r.failed[f]]);
			}
			const std::vector<bool> done = GpuDecodeJpegs(device, part, part_rows, spec, dest);
			for (size_t f = from; f < to; f++) {
				if (done[f - from]) {
					r.ok[r.failed[f]] = true;
				}
			}
		}
	}
	return r.ok;
}

} // namespace europeana::core
