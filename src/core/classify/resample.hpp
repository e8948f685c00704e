/*
 * resample.hpp — the GPU preprocessing's arithmetic: antialiased bilinear resize, center
 * crop and normalisation of one output pixel, from an interleaved RGB image.
 *
 * The same inline functions compile for the host (unit tests compare them with LibTorch's
 * own _upsample_bilinear2d_aa on the CPU) and for the device (gpu_preprocess.cu runs them
 * for every pixel of a block of decoded JPEGs in one kernel launch).  The weights are those
 * of torch's antialiased bilinear interpolation with align_corners = false (the resampling
 * torchvision's Resize(antialias=True) and PIL use): a triangle filter whose support widens
 * with the downscale factor, each axis' weights normalised to sum to one.
 *
 * Plain C++ (no ATen, no CUDA headers), so nvcc compiles it without LibTorch's headers.
 */
#pragma once

#include "core/common/no_postgres.hpp"
#include "core/decode/input_spec.hpp"

#include <cstddef>
#include <cstdint>

#if defined(__CUDACC__)
#define EUROPEANA_HD __host__ __device__
#else
#define EUROPEANA_HD
#endif

namespace europeana::core {

/* One decoded image to resize to resized_width x resized_height (antialiased bilinear),
 * of which the crop at (left, top) goes to row `row` of the destination batch. */
struct ResampleJob {
	const unsigned char *src; /* interleaved RGB, width * 3 bytes per line */
	int width = 0, height = 0;
	int resized_width = 0, resized_height = 0;
	int left = 0, top = 0;
	int64_t row = 0;
};

/* Scale, offset and channel order of the network's input. */
struct ResampleNorm {
	float mean[3];   /* in tensor channel order */
	float inv_std[3];
	int bgr;         /* 1: tensor channel c takes the image's channel 2 - c */
};

/* The input span that output index `i` of an axis reads, and its filter's geometry. */
struct AaSpan {
	int first;
	int count;
	float center;
	float invscale;
};

EUROPEANA_HD inline AaSpan
AaSpanFor(int i, int in_size, int out_size) {
	const float scale = static_cast<float>(in_size) / static_cast<float>(out_size);
	const float support = scale >= 1.0f ? scale : 1.0f; /* bilinear: half the filter's width is 1 */
	AaSpan s;
	s.center = scale * (static_cast<float>(i) + 0.5f);
	s.invscale = scale >= 1.0f ? 1.0f / scale : 1.0f;
	int lo = static_cast<int>(s.center - support + 0.5f);
	int hi = static_cast<int>(s.center + support + 0.5f);
	lo = lo < 0 ? 0 : lo;
	hi = hi > in_size ? in_size : hi;
	s.first = lo;
	s.count = hi > lo ? hi - lo : 0;
	return s;
}

/* The (unnormalised) weight of input index s.first + j. */
EUROPEANA_HD inline float
AaWeight(const AaSpan &s, int j) {
	float x = (static_cast<float>(j + s.first) - s.center + 0.5f) * s.invscale;
	x = x < 0.0f ? -x : x;
	return x < 1.0f ? 1.0f - x : 0.0f;
}

/* The resized image's pixel (left + ox, top + oy), as three floats on the 0..255 scale, in
 * the image's channel order. */
EUROPEANA_HD inline void
ResamplePixel(const ResampleJob &job, int ox, int oy, float rgb[3]) {
	const AaSpan sx = AaSpanFor(ox + job.left, job.width, job.resized_width);
	const AaSpan sy = AaSpanFor(oy + job.top, job.height, job.resized_height);
	float tx = 0.0f, ty = 0.0f;
	for (int j = 0; j < sx.count; j++) {
		tx += AaWeight(sx, j);
	}
	for (int i = 0; i < sy.count; i++) {
		ty += AaWeight(sy, i);
	}
	float r = 0.0f, g = 0.0f, b = 0.0f;
	const size_t pitch = static_cast<size_t>(job.width) * 3;
	for (int i = 0; i < sy.count; i++) {
		const float wy = AaWeight(sy, i);
		if (wy == 0.0f) {
			continue;
		}
		const unsigned char *p = job.src + static_cast<size_t>(sy.first + i) * pitch + static_cast<size_t>(sx.first) * 3;
		float lr = 0.0f, lg = 0.0f, lb = 0.0f;
		for (int j = 0; j < sx.count; j++, p += 3) {
			const float wx = AaWeight(sx, j);
			lr += wx * static_cast<float>(p[0]);
			lg += wx * static_cast<float>(p[1]);
			lb += wx * static_cast<float>(p[2]);
		}
		r += wy * lr;
		g += wy * lg;
		b += wy * lb;
	}
	const float norm = tx > 0.0f && ty > 0.0f ? 1.0f / (tx * ty) : 0.0f;
	rgb[0] = r * norm;
	rgb[1] = g * norm;
	rgb[2] = b * norm;
}

/* Output pixel p (= oy * crop_width + ox) of a job, normalised, into its three planes of
 * `dest` (a contiguous float [rows, 3, crop_height, crop_width] batch). */
EUROPEANA_HD inline void
ResampleInto(const ResampleJob &job, const ResampleNorm &norm, int crop_width, int crop_height, int p, float *dest) {
	const int ox = p % crop_width, oy = p / crop_width;
	float rgb[3];
	ResamplePixel(job, ox, oy, rgb);
	const size_t plane = static_cast<size_t>(crop_width) * static_cast<size_t>(crop_height);
	float *out = dest + static_cast<size_t>(job.row) * 3 * plane + static_cast<size_t>(p);
	for (int c = 0; c < 3; c++) {
		const float v = rgb[norm.bgr ? 2 - c : c];
		out[static_cast<size_t>(c) * plane] = (v * (1.0f / 255.0f) - norm.mean[c]) * norm.inv_std[c];
	}
}

/* The job for an image of width x height: the resize and crop of input_spec.hpp's
 * CropGeometryFor, as on the CPU path. */
inline ResampleJob
ResampleJobFor(const InputSpec &spec, int width, int height) {
	const CropGeometry g = CropGeometryFor(spec, width, height);
	ResampleJob job;
	job.width = width;
	job.height = height;
	job.resized_width = g.resized_width;
	job.resized_height = g.resized_height;
	job.left = g.left;
	job.top = g.top;
	return job;
}

} // namespace europeana::core
