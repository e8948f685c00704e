/*
 * image.hpp — decode image bytes into pixels and preprocess them for a network.
 *
 * Internal core header (includes OpenCV): the glue never includes it.  Decoding reads
 * the header first (sniff.hpp) so that non-images, truncated data and decompression
 * bombs are refused before OpenCV allocates anything; JPEGs are decoded at 1/2, 1/4 or
 * 1/8 scale inside libjpeg when the model input is small enough, which avoids most of a
 * full decode.  All functions are thread-safe and never call PostgreSQL.
 */
#pragma once

#include "core/common/bytes.hpp"
#include "core/common/no_postgres.hpp"
#include "core/decode/input_spec.hpp"
#include "core/decode/sniff.hpp"

#include <opencv2/core.hpp>

#include <cstdint>

namespace europeana::core {

struct DecodeOptions {
	/* Images whose header declares more pixels than this are refused (ResourceLimit). */
	uint64_t max_pixels = 100000000;
	/* When > 0, a JPEG may be decoded at a reduced scale as long as its shorter side
	 * stays at least this many pixels. */
	int min_shorter_side = 0;
};

struct DecodedImage {
	cv::Mat bgr; /* 8-bit, 3 channels, BGR, EXIF orientation applied */
	ImageHeader header;
	int reduction = 1; /* 1, 2, 4 or 8 */
};

/* DecodeImage validates and decodes; throws europeana::Error (InvalidInput for
 * malformed, truncated or unsupported data, ResourceLimit for too many pixels). */
DecodedImage DecodeImage(ByteView bytes, const DecodeOptions &options);

/* Smallest shorter side a decode must keep so that preprocessing is not upscaling. */
int MinDecodeSide(const InputSpec &spec) noexcept;

/* PreprocessInto resizes (area filter when shrinking, bilinear when enlarging),
 * centre-crops and normalises `bgr` into `chw`, a buffer of 3 * crop_height * crop_width
 * floats laid out as planar CHW. */
void PreprocessInto(const cv::Mat &bgr, const InputSpec &spec, float *chw);

} // namespace europeana::core
