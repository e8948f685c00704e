/*
 * decode_fuzzer.cpp — libFuzzer target for the image decode path.
 *
 * Feeds arbitrary bytes to DecodeImage (header sniffing, limits, OpenCV imdecode) and,
 * when a picture comes out, to PreprocessInto with the default InputSpec (resize 256,
 * centre crop 224, ImageNet normalisation).  This is the path every bytea takes inside
 * europeana_classify().
 *
 * Contract checked: DecodeImage either returns an 8-bit, 3-channel, non-empty BGR image
 * or throws europeana::Error.  Any other exception (cv::Exception, std::bad_alloc, ...)
 * escaping is a finding and aborts the run, as do sanitizer reports.  Set
 * EUROPEANA_FUZZ_TOLERATE_CV=1 to count cv::Exception as expected instead (useful to keep
 * fuzzing for memory errors after such a finding has been reported).
 *
 * Build (clang only; a separate build directory):
 *   CC=clang CXX=clang++ cmake -S . -B build-fuzz -DEUROPEANA_BUILD_FUZZERS=ON \
 *       -DEUROPEANA_BUILD_TESTS=OFF -DEUROPEANA_WERROR=OFF
 *   cmake --build build-fuzz --target decode_fuzzer
 * Run:  scripts/fuzz.sh [SECONDS]     Reproduce:  build-fuzz/decode_fuzzer CRASH_FILE
 */
#include "core/common/error.hpp"
#include "core/decode/image.hpp"
#include "core/decode/input_spec.hpp"

#include <opencv2/core.hpp>
#include <opencv2/core/utils/logger.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <unistd.h>

namespace {

using europeana::core::ByteView;
using europeana::core::DecodedImage;
using europeana::core::DecodeOptions;
using europeana::core::InputSpec;

bool g_tolerate_cv = false;

/* A duplicate of stderr taken before libFuzzer applies -close_fd_mask=2 (which silences
 * OpenCV's and libjpeg's own chatter), so that our findings are still printed. */
FILE *g_report = stderr;

[[noreturn]] void
Violation(const char *what) {
	std::fprintf(g_report, "decode_fuzzer: contract violation: %s\n", what);
	std::fflush(g_report);
	std::abort();
}

} // namespace

extern "C" int
LLVMFuzzerInitialize(int * /*argc*/, char *** /*argv*/) {
	/* One thread: deterministic, and sanitizer reports point at the calling stack. */
	cv::setNumThreads(1);
	cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_SILENT);
	const char *tolerate = std::getenv("EUROPEANA_FUZZ_TOLERATE_CV");
	g_tolerate_cv = tolerate != nullptr && std::strcmp(tolerate, "0") != 0;
	const int fd = dup(STDERR_FILENO);
	if (fd >= 0) {
		if (FILE *f = fdopen(fd, "w")) {
			g_report = f;
		}
	}
	return 0;
}

extern "C" int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	DecodeOptions options;
	/* Far below the production default (1e8): a valid header may declare a picture that
	 * decodes to gigabytes, which would only measure the machine's memory. */
	options.max_pixels = 4096ull * 4096ull;
	options.min_shorter_side = 256;

	static const InputSpec spec; /* defaults: resize 256, crop 224x224, RGB, ImageNet mean/std */
	static std::vector<float> chw(3 * static_cast<size_t>(spec.crop_width) * spec.crop_height);

	DecodedImage image;
	try {
		image = europeana::core::DecodeImage(ByteView{data, size}, options);
	} catch (const europeana::Error &) {
		return 0; /* refused cleanly: the expected outcome for most inputs */
	} catch (const cv::Exception &e) {
		if (g_tolerate_cv) {
			return 0;
		}
		std::fprintf(g_report, "decode_fuzzer: cv::Exception escaped DecodeImage: %s\n", e.what());
		std::fflush(g_report);
		throw;
	}

	if (image.bgr.empty() || image.bgr.rows <= 0 || image.bgr.cols <= 0) {
		Violation("DecodeImage returned an empty image");
	}
	if (image.bgr.type() != CV_8UC3) {
		Violation("DecodeImage returned an image that is not 8-bit BGR");
	}
	if (image.reduction != 1 && image.reduction != 2 && image.reduction != 4 && image.reduction != 8) {
		Violation("DecodeImage returned an invalid reduction");
	}
	if (static_cast<uint64_t>(image.bgr.rows) * static_cast<uint64_t>(image.bgr.cols) > options.max_pixels) {
		Violation("DecodeImage returned more pixels than max_pixels allows");
	}

	try {
		europeana::core::PreprocessInto(image.bgr, spec, chw.data());
	} catch (const europeana::Error &) {
		return 0;
	} catch (const cv::Exception &e) {
		if (g_tolerate_cv) {
			return 0;
		}
		std::fprintf(g_report, "decode_fuzzer: cv::Exception escaped PreprocessInto (%dx%d image): %s\n",
		             image.bgr.cols, image.bgr.rows, e.what());
		std::fflush(g_report);
		throw;
	}
	/* Touch the output so that a partly written buffer shows up under MSan-style tools and
	 * a NaN from a bad normalisation is caught here. */
	for (float v : chw) {
		if (!std::isfinite(v)) {
			Violation("PreprocessInto produced a non-finite value");
		}
	}
	return 0;
}
