/*
 * gpu_preprocess.hpp — one kernel launch that resizes (antialiased bilinear), center-crops
 * and normalises a block of decoded RGB images into rows of the model's input batch.
 *
 * Built only for CUDA (EUROPEANA_WITH_NVJPEG); the arithmetic is resample.hpp's.  No ATen
 * here, so that nvcc compiles the kernel without LibTorch's headers.
 */
#pragma once

#include "core/classify/resample.hpp"

#include <cuda_runtime_api.h>

namespace europeana::core {

/* Runs ResampleInto for every pixel of every job: jobs (n of them) live in device memory,
 * their src in device memory, dest is a contiguous float [rows, 3, crop_height, crop_width]
 * device tensor's data.  Asynchronous on `stream`; returns the launch's error. */
cudaError_t LaunchResample(const ResampleJob *jobs, int n, const ResampleNorm &norm, int crop_width, int crop_height,
                           float *dest, cudaStream_t stream);

} // namespace europeana::core
