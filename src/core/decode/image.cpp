/*
 * image.cpp — bytes → BGR pixels → normalised CHW floats (OpenCV).
 */
#include "core/decode/image.hpp"

#include "core/common/error.hpp"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <string>

namespace europeana::core {

namespace {

int
ReducedFlag(int reduction) {
	switch (reduction) {
	case 2:
		return cv::IMREAD_REDUCED_COLOR_2;
	case 4:
		return cv::IMREAD_REDUCED_COLOR_4;
	case 8:
		return cv::IMREAD_REDUCED_COLOR_8;
	default:
		return cv::IMREAD_COLOR;
	}
}

} // namespace

DecodedImage
DecodeImage(ByteView bytes, const DecodeOptions &options) {
	DecodedImage out;
	try {
		out.header = ReadImageHeader(bytes);
	} catch (const Error &e) {
		if (e.Kind() != ErrorKind::InvalidInput) {
			throw;
		}
		throw Error(ErrorKind::InvalidData, e.what(), e.Hint());
	}
	const ImageHeader &h = out.header;

	const uint64_t pixels = static_cast<uint64_t>(h.width) * h.height;
	if (pixels > options.max_pixels) {
		throw Error(ErrorKind::ResourceLimit,
		            std::string(FormatName(h.format)) + " image of " + std::to_string(h.width) + "x" +
		                std::to_string(h.height) + " pixels exceeds the limit of " +
		                std::to_string(options.max_pixels) + " pixels",
		            "Raise europeana.max_image_pixels to accept larger images.");
	}
	/* OpenCV refuses sides over 2^20 by throwing from outside its own error handling. */
	constexpr uint32_t kMaxSide = 1u << 20;
	if (h.width > kMaxSide || h.height > kMaxSide) {
		throw Error(ErrorKind::ResourceLimit,
		            std::string(FormatName(h.format)) + " image of " + std::to_string(h.width) + "x" +
		                std::to_string(h.height) + " pixels has a side longer than " + std::to_string(kMaxSide) +
		                " pixels",
		            "Images this elongated are not supported; the header is probably corrupt.");
	}
	if (!h.complete) {
		throw Error(ErrorKind::InvalidData,
		            std::string(FormatName(h.format)) + " image data is truncated (" + std::to_string(bytes.size) +
		                " bytes)",
		            "Fetch or store the image again; the end of the file is missing.");
	}

	/* libjpeg scales by 1/2, 1/4 or 1/8 during the IDCT; other codecs would decode in full
	 * and then resize, which only adds work, so reduction is for JPEG only. */
	if (h.format == ImageFormat::Jpeg && options.min_shorter_side > 0) {
		const uint32_t shorter = std::min(h.width, h.height);
		for (int r : {8, 4, 2}) {
			if (shorter / static_cast<uint32_t>(r) >= static_cast<uint32_t>(options.min_shorter_side)) {
				out.reduction = r;
				break;
			}
		}
	}

	const cv::Mat raw(1, static_cast<int>(std::min<size_t>(bytes.size, INT32_MAX)), CV_8U,
	                  const_cast<uint8_t *>(bytes.data));
	try {
		out.bgr = cv::imdecode(raw, ReducedFlag(out.reduction));
	} catch (const cv::Exception &e) {
		throw Error(ErrorKind::InvalidData,
		            "could not decode " + std::string(FormatName(h.format)) + " image: " + e.err,
		            "The data has a valid header but its content is corrupt or uses an unsupported variant.");
	}
	if (out.bgr.empty()) {
		throw Error(ErrorKind::InvalidData,
		            "could not decode " + std::string(FormatName(h.format)) + " image (" + std::to_string(bytes.size) +
		                " bytes)",
		            "The data has a valid header but its content is corrupt or uses an unsupported variant.");
	}
	if (out.bgr.channels() != 3 || out.bgr.depth() != CV_8U) {
		/* IMREAD_COLOR promises 8-bit BGR; keep the invariant explicit for every codec. */
		cv::Mat converted;
		if (out.bgr.depth() != CV_8U) {
			out.bgr.convertTo(converted, CV_8U, out.bgr.depth() == CV_16U ? 1.0 / 257.0 : 255.0);
			out.bgr = converted;
		}
		if (out.bgr.channels() == 1) {
			cv::cvtColor(out.bgr, converted, cv::COLOR_GRAY2BGR);
			out.bgr = converted;
		} else if (out.bgr.channels() == 4) {
			cv::cvtColor(out.bgr, converted, cv::COLOR_BGRA2BGR);
			out.bgr = converted;
		}
	}
	if (out.bgr.rows == 0 || out.bgr.cols == 0) {
		throw Error(ErrorKind::InvalidData, "image has zero width or height");
	}
	return out;
}

int
MinDecodeSide(const InputSpec &spec) noexcept {
	if (spec.resize_shorter > 0) {
		return spec.resize_shorter;
	}
	return std::max(spec.crop_width, spec.crop_height);
}

void
PreprocessInto(const cv::Mat &bgr, const InputSpec &spec, float *chw) {
	const int w = bgr.cols;
	const int h = bgr.rows;
	/* torchvision's Resize(shorter side) and CenterCrop, as the GPU path computes them */
	const CropGeometry geometry = CropGeometryFor(spec, w, h);
	const cv::Size target(geometry.resized_width, geometry.resized_height);
	const int top = geometry.top;
	const int left = geometry.left;

	cv::Mat crop;
	const int64_t target_area = static_cast<int64_t>(target.width) * target.height;
	const int64_t crop_area = static_cast<int64_t>(spec.crop_width) * spec.crop_height;
	if (target_area <= 16 * crop_area) {
		/* Ordinary aspect ratios: resize the whole image, then crop, exactly as torchvision. */
		cv::Mat resized;
		if (target.width == w && target.height == h) {
			resized = bgr;
		} else {
			const bool shrinking = target.width < w && target.height < h;
			cv::resize(bgr, resized, target, 0, 0, shrinking ? cv::INTER_AREA : cv::INTER_LINEAR);
		}
		crop = resized(cv::Rect(left, top, spec.crop_width, spec.crop_height));
	} else {
		/* Extremely elongated images (a 1x20000 strip would resize to 256x5120000): cut the
		 * source region that the crop covers and resize only that, which bounds memory by
		 * the crop size. Off by at most one source pixel at the edges. */
		const double sx = static_cast<double>(w) / target.width;
		const double sy = static_cast<double>(h) / target.height;
		const int x0 = std::clamp(static_cast<int>(std::floor(left * sx)), 0, w - 1);
		const int y0 = std::clamp(static_cast<int>(std::floor(top * sy)), 0, h - 1);
		const int x1 = std::clamp(static_cast<int>(std::ceil((left + spec.crop_width) * sx)), x0 + 1, w);
		const int y1 = std::clamp(static_cast<int>(std::ceil((top + spec.crop_height) * sy)), y0 + 1, h);
		const cv::Mat region = bgr(cv::Rect(x0, y0, x1 - x0, y1 - y0));
		const bool shrinking = spec.crop_width < region.cols && spec.crop_height < region.rows;
		cv::resize(region, crop, cv::Size(spec.crop_width, spec.crop_height), 0, 0,
		           shrinking ? cv::INTER_AREA : cv::INTER_LINEAR);
	}

	cv::Mat planes[3];
	cv::split(crop, planes); /* B, G, R */
	const size_t plane_size = static_cast<size_t>(spec.crop_width) * spec.crop_height;
	for (int c = 0; c < 3; c++) {
		/* tensor channel c takes R,G,B (rgb) or B,G,R; mean/std are given in tensor order */
		const int src = spec.rgb ? 2 - c : c;
		cv::Mat dst(spec.crop_height, spec.crop_width, CV_32F, chw + c * plane_size);
		const double alpha = 1.0 / (255.0 * spec.std[c]);
		const double beta = -spec.mean[c] / spec.std[c];
		planes[src].convertTo(dst, CV_32F, alpha, beta);
	}
}

} // namespace europeana::core
