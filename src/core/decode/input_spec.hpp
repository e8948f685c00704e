/*
 * input_spec.hpp — how a network wants its input, as the model metadata says.
 *
 * Plain data, no OpenCV: the glue reads it to describe models.
 */
#pragma once

#include "core/common/no_postgres.hpp"

#include <array>
#include <cstdint>

namespace europeana::core {

struct InputSpec {
	int resize_shorter = 256; /* shorter side after resize; 0 = resize straight to the crop size */
	int crop_width = 224;
	int crop_height = 224;
	std::array<float, 3> mean{0.485f, 0.456f, 0.406f}; /* in tensor channel order */
	std::array<float, 3> std{0.229f, 0.224f, 0.225f};
	bool rgb = true; /* channel order of the tensor: RGB (torchvision) or BGR */
};

/* torchvision's CenterCrop offset for a difference d >= 0: round(d / 2), halves to even
 * (Python's round). */
inline int
CenterCropOffset(int d) noexcept {
	int half = d / 2;
	if (d % 2 == 1 && half % 2 == 1) {
		half += 1;
	}
	return half;
}

/* Where an image of width x height goes on its way into the network, as torchvision
 * computes it: Resize(resize_shorter) makes the shorter side resize_shorter and keeps the
 * aspect ratio, the longer side truncated like int(size * long / short) (resize_shorter 0:
 * straight to the crop size), never smaller than the crop; then CenterCrop's offsets. */
struct CropGeometry {
	int resized_width = 0, resized_height = 0;
	int left = 0, top = 0;
};

inline CropGeometry
CropGeometryFor(const InputSpec &spec, int width, int height) noexcept {
	int tw = spec.crop_width, th = spec.crop_height;
	if (spec.resize_shorter > 0) {
		const int s = spec.resize_shorter;
		if (width <= height) {
			tw = s;
			th = static_cast<int>(static_cast<int64_t>(s) * height / width);
		} else {
			tw = static_cast<int>(static_cast<int64_t>(s) * width / height);
			th = s;
		}
	}
	CropGeometry g;
	g.resized_width = tw > spec.crop_width ? tw : spec.crop_width;
	g.resized_height = th > spec.crop_height ? th : spec.crop_height;
	g.top = CenterCropOffset(g.resized_height - spec.crop_height);
	g.left = CenterCropOffset(g.resized_width - spec.crop_width);
	return g;
}

} // namespace europeana::core
