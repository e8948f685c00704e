/*
 * gpu_jpeg.hpp — batched JPEG decoding and preprocessing on an NVIDIA GPU (nvJPEG).
 *
 * Built only with a CUDA LibTorch and the CUDA toolkit's nvJPEG (EUROPEANA_WITH_NVJPEG).
 * Uses the GPU's hardware JPEG engines where the GPU has them (A100, H100, ...), otherwise
 * nvJPEG's hybrid CUDA backend.  Main thread only; nothing here calls PostgreSQL.
 */
#pragma once

#include "core/common/bytes.hpp"
#include "core/common/no_postgres.hpp"
#include "core/decode/input_spec.hpp"

#include <ATen/Tensor.h>

#include <string>
#include <vector>

namespace europeana::core {

/* Whether nvJPEG can be used on CUDA device `device` (created lazily, once per process and
 * device); *backend names the backend ("hardware" or "hybrid") or why not. */
bool GpuJpegAvailable(int device, std::string *backend);

/* What the device's stream did between two marks of a batch's timeline. */
enum class GpuStage { Start, Decode, Preprocess, Forward, Other };

/* GPU time of a batch by stage, in ms (CUDA events on the stream).  other_ms: the stream was
 * idle or busy with anything else (uploads of CPU-decoded rows, waiting for the host). */
struct GpuStageTimes {
	bool valid = false;
	double decode_ms = 0, preprocess_ms = 0, forward_ms = 0, other_ms = 0;
};

/* A batch's timeline on `device`'s current stream: Start records the first event, each Mark
 * ends a stage; Read, once the stream has been synchronised, sums the stages and ends it.
 * GpuDecodeJpegs marks its own stages while a timeline is open. */
void GpuTimelineStart(int device);
void GpuTimelineMark(GpuStage stage);
GpuStageTimes GpuTimelineRead();

/* Decodes jpegs[k] (baseline JPEGs with 3 components and no EXIF rotation: the caller
 * checks the header) on `device`, preprocesses it as torchvision does (Resize(shorter
 * side) with antialiasing, CenterCrop, scale, mean/std: one kernel for the block, see
 * resample.hpp) and writes it into row rows[k] of `dest`, a contiguous float
 * [N, 3, crop_h, crop_w] tensor on that device.
 * Returns, per item, whether it was decoded; the others must be decoded another way.  A
 * block the decoder refuses as a whole (one corrupt stream fails nvJPEG's batched call) is
 * retried in halves, down to the images that fail alone; a block without device memory, in
 * halves down to 16 images.  Asynchronous on the device's current stream. */
std::vector<bool> GpuDecodeJpegs(int device, const std::vector<ByteView> &jpegs, const std::vector<int64_t> &rows,
                                 const InputSpec &spec, const at::Tensor &dest);

/* Waits for the device's last nvJPEG blocks (their decode and preprocessing) and gives their
 * buffers, held until then, back to LibTorch's cache: for a caller about to retry an
 * allocation that found no device memory.  A no-op where nvJPEG never ran. */
void GpuJpegReleaseBuffers(int device) noexcept;

/* nvJPEG calls that found no device memory for their block's decoded images (since the
 * process started); their images were retried in smaller blocks or given back. */
int64_t GpuJpegBlocksOutOfMemory() noexcept;

/* How many times nvJPEG gave images back (an image it cannot read, a failed block call, no
 * memory), since the process started; *last (optional) says why, the last time. */
int64_t GpuJpegFailures(std::string *last);

} // namespace europeana::core
