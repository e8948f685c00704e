/*
 * gpu_preprocess.cu — the block preprocessing kernel (see gpu_preprocess.hpp).
 *
 * One thread per output pixel (all three channels), one grid row per image: a block of 64
 * JPEGs is one launch where the per-image ATen chain (convert, resize, crop, normalise,
 * copy) was ~6 launches per image and a float copy of every full-size image.
 */
#include "core/classify/gpu_preprocess.hpp"

namespace europeana::core {

namespace {

constexpr int kThreads = 256;

__global__ void
ResampleKernel(const ResampleJob *jobs, ResampleNorm norm, int crop_width, int crop_height, float *dest) {
	const int p = static_cast<int>(blockIdx.x) * kThreads + static_cast<int>(threadIdx.x);
	if (p >= crop_width * crop_height) {
		return;
	}
	const ResampleJob job = jobs[blockIdx.y];
	ResampleInto(job, norm, crop_width, crop_height, p, dest);
}

} // namespace

cudaError_t
LaunchResample(const ResampleJob *jobs, int n, const ResampleNorm &norm, int crop_width, int crop_height, float *dest,
               cudaStream_t stream) {
	if (n <= 0) {
		return cudaSuccess;
	}
	(void)cudaGetLastError(); /* an earlier call's error must not be taken for the launch's */
	const int pixels = crop_width * crop_height;
	const dim3 grid(static_cast<unsigned>((pixels + kThreads - 1) / kThreads), static_cast<unsigned>(n));
	ResampleKernel<<<grid, kThreads, 0, stream>>>(jobs, norm, crop_width, crop_height, dest);
	return cudaGetLastError();
}

} // namespace europeana::core
