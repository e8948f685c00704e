/*
 * gpu_jpeg.cpp — nvJPEG batched decode into the model's input tensor (see gpu_jpeg.hpp).
 */
#include "core/classify/gpu_jpeg.hpp"

#include "core/common/error.hpp"

#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <array>
#include <cmath>
#include <map>
#include <mutex>
#include <nvjpeg.h>

namespace europeana::core {

namespace {

struct NvJpeg {
	nvjpegHandle_t handle = nullptr;
	nvjpegJpegState_t state = nullptr;
	std::string backend; /* the one nvjpegCreateEx accepted */
	at::Tensor mean, stdv; /* of the last input spec, on the device */
	std::array<float, 6> mean_std {};
	std::string error;
};

/* One per device, for the life of the process (never destroyed: process exit skips it). */
NvJpeg *
StateFor(int device) {
	static std::map<int, NvJpeg *> states;
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
	if (s->handle != nullptr && nvjpegJpegStateCreate(s->handle, &s->state) != NVJPEG_STATUS_SUCCESS) {
		s->error = "nvjpegJpegStateCreate failed";
		s->handle = nullptr;
	}
	states[device] = s;
	return s;
}

} // namespace

bool
GpuJpegAvailable(int device, std::string *backend) {
	NvJpeg *s = StateFor(device);
	*backend = s->handle == nullptr ? s->error : s->backend;
	return s->handle != nullptr;
}

std::vector<bool>
GpuDecodeJpegs(int device, const std::vector<ByteView> &jpegs, const std::vector<int64_t> &rows, const InputSpec &spec,
               const at::Tensor &dest) {
	const size_t n = jpegs.size();
	std::vector<bool> ok(n, false);
	NvJpeg *s = StateFor(device);
	if (s->handle == nullptr || n == 0) {
		return ok;
	}
	c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(device));
	cudaStream_t stream = at::cuda::getCurrentCUDAStream(static_cast<c10::DeviceIndex>(device)).stream();

	/* sizes first: one device buffer holds every decoded image (interleaved RGB) */
	std::vector<int> widths(n), heights(n);
	std::vector<size_t> offsets(n);
	std::vector<size_t> take; /* items nvJPEG accepts */
	size_t total = 0;
	for (size_t k = 0; k < n; k++) {
		int components = 0;
		nvjpegChromaSubsampling_t subsampling;
		int w[NVJPEG_MAX_COMPONENT] = {0}, h[NVJPEG_MAX_COMPONENT] = {0};
		if (nvjpegGetImageInfo(s->handle, jpegs[k].data, jpegs[k].size, &components, &subsampling, w, h) !=
		        NVJPEG_STATUS_SUCCESS ||
		    components != 3 || w[0] <= 0 || h[0] <= 0) {
			continue;
		}
		widths[k] = w[0];
		heights[k] = h[0];
		offsets[k] = total;
		total += static_cast<size_t>(w[0]) * h[0] * 3;
		take.push_back(k);
	}
	if (take.empty()) {
		return ok;
	}
	at::Tensor buffer = at::empty({static_cast<int64_t>(total)},
	                              at::TensorOptions().dtype(at::kByte).device(at::kCUDA, static_cast<c10::DeviceIndex>(device)));
	std::vector<const unsigned char *> datas;
	std::vector<size_t> lengths;
	std::vector<nvjpegImage_t> outputs;
	for (size_t k : take) {
		datas.push_back(jpegs[k].data);
		lengths.push_back(jpegs[k].size);
		nvjpegImage_t out {};
		out.channel[0] = buffer.data_ptr<uint8_t>() + offsets[k];
		out.pitch[0] = static_cast<unsigned int>(widths[k]) * 3;
		outputs.push_back(out);
	}
	const int batch = static_cast<int>(take.size());
	/* The state's buffers are resized by the initialisation: the previous block's decode on
	 * this stream must be over first (block sizes vary). */
	if (cudaStreamSynchronize(stream) != cudaSuccess) {
		return ok;
	}
	if (nvjpegDecodeBatchedInitialize(s->handle, s->state, batch, 1, NVJPEG_OUTPUT_RGBI) != NVJPEG_STATUS_SUCCESS ||
	    nvjpegDecodeBatched(s->handle, s->state, datas.data(), lengths.data(), outputs.data(), stream) !=
	        NVJPEG_STATUS_SUCCESS) {
		return ok; /* e.g. a stream the hardware engine does not support: all go to the CPU */
	}

	/* preprocess each image with ATen on the same stream */
	/* mean and std live on the device, made once per spec: an upload per block would wait
	 * for the decode just queued */
	const std::array<float, 6> ms = {spec.mean[0], spec.mean[1], spec.mean[2], spec.std[0], spec.std[1], spec.std[2]};
	if (!s->mean.defined() || ms != s->mean_std) {
		s->mean = at::tensor(std::vector<float>(spec.mean.begin(), spec.mean.end()), dest.options()).view({3, 1, 1});
		s->stdv = at::tensor(std::vector<float>(spec.std.begin(), spec.std.end()), dest.options()).view({3, 1, 1});
		s->mean_std = ms;
	}
	const at::Tensor &mean = s->mean;
	const at::Tensor &stdv = s->stdv;
	for (size_t t = 0; t < take.size(); t++) {
		const size_t k = take[t];
		const int w = widths[k], h = heights[k];
		at::Tensor img = buffer.narrow(0, static_cast<int64_t>(offsets[k]), static_cast<int64_t>(w) * h * 3)
		                     .view({h, w, 3})
		                     .permute({2, 0, 1})
		                     .unsqueeze(0)
		                     .to(at::kFloat);
		int tw = spec.crop_width, th = spec.crop_height;
		if (spec.resize_shorter > 0) {
			const int r = spec.resize_shorter;
			if (w <= h) {
				tw = r;
				th = static_cast<int>(static_cast<int64_t>(r) * h / w);
			} else {
				tw = static_cast<int>(static_cast<int64_t>(r) * w / h);
				th = r;
			}
		}
		tw = std::max(tw, spec.crop_width);
		th = std::max(th, spec.crop_height);
		at::Tensor resized = (tw == w && th == h) ? img
		                                          : at::_upsample_bilinear2d_aa(img, std::vector<int64_t> {th, tw}, false,
		                                                                        std::nullopt, std::nullopt);
		const int top = static_cast<int>(std::nearbyint((th - spec.crop_height) / 2.0));
		const int left = static_cast<int>(std::nearbyint((tw - spec.crop_width) / 2.0));
		at::Tensor crop = resized[0].narrow(1, top, spec.crop_height).narrow(2, left, spec.crop_width);
		if (!spec.rgb) {
			crop = crop.flip(0);
		}
		dest[rows[k]].copy_((crop / 255.0f - mean) / stdv);
		ok[k] = true;
	}
	return ok;
}

} // namespace europeana::core
