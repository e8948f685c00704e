/*
 * test_support.hpp — helpers shared by the unit tests: external data paths, temp dirs,
 * encoded test images.
 */
#pragma once

#include "core/common/bytes.hpp"

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include <cstdlib>
#include <fstream>
#include <gtest/gtest.h>
#include <string>
#include <vector>

namespace europeana::testing {

/* Directory with the external model files; ../shared/models unless overridden. */
inline std::string
ModelSource() {
	const char *env = std::getenv("EUROPEANA_MODEL_SOURCE");
	return env && *env ? env : std::string(EUROPEANA_SOURCE_DIR) + "/../shared/models";
}

inline std::string
RepoModels() {
	return std::string(EUROPEANA_SOURCE_DIR) + "/models";
}

inline std::vector<uint8_t>
ReadFile(const std::string &path) {
	std::ifstream in(path, std::ios::binary);
	if (!in) {
		ADD_FAILURE() << "missing test input: " << path;
		return {};
	}
	return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

inline void
WriteFile(const std::string &path, const std::string &content) {
	std::ofstream out(path, std::ios::binary);
	out << content;
}

inline core::ByteView
View(const std::vector<uint8_t> &v) {
	return core::ByteView {v.data(), v.size()};
}

inline std::vector<uint8_t>
Encode(const cv::Mat &img, const std::string &ext, const std::vector<int> &params = {}) {
	std::vector<uint8_t> out;
	EXPECT_TRUE(cv::imencode(ext, img, out, params)) << ext;
	return out;
}

/* A gradient image: smooth enough to compress like a photo, asymmetric so that a
 * rotation or flip is detectable. */
inline cv::Mat
Gradient(int width, int height, int channels = 3, int depth = CV_8U) {
	cv::Mat m(height, width, CV_MAKETYPE(depth, channels));
	const double scale = depth == CV_16U ? 257.0 : 1.0;
	for (int y = 0; y < height; y++) {
		for (int x = 0; x < width; x++) {
			for (int c = 0; c < channels; c++) {
				const double v = (c == 0 ? 255.0 * x / width : c == 1 ? 255.0 * y / height : 128.0) * scale;
				if (depth == CV_16U) {
					m.ptr<uint16_t>(y)[x * channels + c] = static_cast<uint16_t>(v);
				} else {
					m.ptr<uint8_t>(y)[x * channels + c] = static_cast<uint8_t>(v);
				}
			}
		}
	}
	return m;
}

class TempDir {
public:
	TempDir() {
		char tmpl[] = "/tmp/europeana-test-XXXXXX";
		path_ = mkdtemp(tmpl);
	}
	~TempDir() {
		const std::string cmd = "rm -rf '" + path_ + "'";
		(void)std::system(cmd.c_str());
	}
	const std::string &
	Path() const {
		return path_;
	}

private:
	std::string path_;
};

} // namespace europeana::testing
