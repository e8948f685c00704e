/*
 * input_spec.hpp — how a network wants its input, as the model metadata says.
 *
 * Plain data, no OpenCV: the glue reads it to describe models.
 */
#pragma once

#include "core/common/no_postgres.hpp"

#include <array>

namespace europeana::core {

struct InputSpec {
	int resize_shorter = 256; /* shorter side after resize; 0 = resize straight to the crop size */
	int crop_width = 224;
	int crop_height = 224;
	std::array<float, 3> mean{0.485f, 0.456f, 0.406f}; /* in tensor channel order */
	std::array<float, 3> std{0.229f, 0.224f, 0.225f};
	bool rgb = true; /* channel order of the tensor: RGB (torchvision) or BGR */
};

} // namespace europeana::core
