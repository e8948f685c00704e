/*
 * resample_test.cpp — the GPU preprocessing's arithmetic (resample.hpp), run on the host,
 * against LibTorch's own antialiased bilinear interpolation on the CPU (what torchvision's
 * Resize(antialias=True) calls) followed by CenterCrop and normalisation.
 */
#include "core/classify/resample.hpp"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <random>
#include <vector>

namespace europeana::core {
namespace {

/* a photo-like image: smooth gradients plus noise, so that every filter tap matters */
std::vector<unsigned char>
TestImage(int w, int h, unsigned seed) {
	std::mt19937 rng(seed);
	std::uniform_int_distribution<int> noise(-40, 40);
	std::vector<unsigned char> img(static_cast<size_t>(w) * h * 3);
	for (int y = 0; y < h; y++) {
		for (int x = 0; x < w; x++) {
			for (int c = 0; c < 3; c++) {
				const int base = (c == 0 ? x * 255 / w : c == 1 ? y * 255 / h : ((x / 7 + y / 5) % 2) * 200);
				img[(static_cast<size_t>(y) * w + x) * 3 + c] = static_cast<unsigned char>(std::clamp(base + noise(rng), 0, 255));
			}
		}
	}
	return img;
}

InputSpec
Spec(int resize_shorter, int crop) {
	InputSpec spec;
	spec.resize_shorter = resize_shorter;
	spec.crop_width = spec.crop_height = crop;
	return spec;
}

/* torch's reference: [3, crop_h, crop_w] float on the 0..255 scale */
at::Tensor
Reference(std::vector<unsigned char> &img, const ResampleJob &job, int crop_w, int crop_h) {
	at::Tensor t = at::from_blob(img.data(), {job.height, job.width, 3}, at::kByte).permute({2, 0, 1}).unsqueeze(0).to(at::kFloat);
	at::Tensor r = at::_upsample_bilinear2d_aa(t, std::vector<int64_t> {job.resized_height, job.resized_width}, false,
	                                           c10::nullopt, c10::nullopt);
	return r[0].narrow(1, job.top, crop_h).narrow(2, job.left, crop_w).contiguous();
}

struct Case {
	int width, height, resize_shorter, crop;
};

class ResampleCase : public ::testing::TestWithParam<Case> {};

TEST_P(ResampleCase, MatchesTorchAntialiasedBilinear) {
	const Case c = GetParam();
	std::vector<unsigned char> img = TestImage(c.width, c.height, static_cast<unsigned>(c.width * 31 + c.height));
	ResampleJob job = ResampleJobFor(Spec(c.resize_shorter, c.crop), c.width, c.height);
	job.src = img.data();
	const at::Tensor ref = Reference(img, job, c.crop, c.crop);
	const auto acc = ref.accessor<float, 3>();
	float worst = 0.0f;
	for (int oy = 0; oy < c.crop; oy++) {
		for (int ox = 0; ox < c.crop; ox++) {
			float rgb[3];
			ResamplePixel(job, ox, oy, rgb);
			for (int ch = 0; ch < 3; ch++) {
				worst = std::max(worst, std::abs(rgb[ch] - acc[ch][oy][ox]));
			}
		}
	}
	/* float rounding only: the 0..255 scale, so 0.01 is far below one grey level */
	EXPECT_LT(worst, 0.01f) << c.width << "x" << c.height << " -> " << job.resized_width << "x" << job.resized_height;
}

INSTANTIATE_TEST_SUITE_P(Sizes, ResampleCase,
                         ::testing::Values(Case {1600, 1200, 256, 224},  /* a photo, downscaled 4.7x */
                                           Case {900, 2000, 256, 224},   /* portrait */
                                           Case {257, 256, 256, 224},    /* almost no scaling */
                                           Case {256, 256, 256, 224},    /* none: the crop alone */
                                           Case {120, 90, 256, 224},     /* upscaled */
                                           Case {640, 480, 0, 224},      /* straight to the crop size */
                                           Case {3000, 1001, 256, 224})); /* odd sizes, 3.9x */

TEST(Resample, NormalisesIntoPlanesInTensorChannelOrder) {
	std::vector<unsigned char> img = TestImage(500, 375, 7);
	ResampleJob job = ResampleJobFor(Spec(256, 224), 500, 375);
	job.src = img.data();
	job.row = 1;
	const at::Tensor ref = Reference(img, job, 224, 224);
	const float mean[3] = {0.485f, 0.456f, 0.406f}, stdv[3] = {0.229f, 0.224f, 0.225f};
	for (int bgr = 0; bgr <= 1; bgr++) {
		ResampleNorm norm {};
		for (int c = 0; c < 3; c++) {
			norm.mean[c] = mean[c];
			norm.inv_std[c] = 1.0f / stdv[c];
		}
		norm.bgr = bgr;
		std::vector<float> dest(2 * 3 * 224 * 224, -100.0f);
		for (int p = 0; p < 224 * 224; p++) {
			ResampleInto(job, norm, 224, 224, p, dest.data());
		}
		at::Tensor want = bgr ? ref.flip(0) : ref;
		want = (want / 255.0f - at::tensor({mean[0], mean[1], mean[2]}).view({3, 1, 1})) /
		       at::tensor({stdv[0], stdv[1], stdv[2]}).view({3, 1, 1});
		const at::Tensor got = at::from_blob(dest.data(), {2, 3, 224, 224}, at::kFloat);
		EXPECT_LT((got[1] - want).abs().max().item<float>(), 1e-4f) << "bgr " << bgr;
		EXPECT_EQ(got[0].eq(-100.0f).all().item<bool>(), true) << "row 0 is left alone";
	}
}

TEST(Resample, CropAndResizeGeometryIsTorchvisions) {
	/* Resize(256) keeps the aspect ratio, the longer side truncated, as torchvision does */
	ResampleJob j = ResampleJobFor(Spec(256, 224), 1600, 1200);
	EXPECT_EQ(j.resized_width, 341);
	EXPECT_EQ(j.resized_height, 256);
	/* CenterCrop: round((341 - 224) / 2) = round(58.5) = 58 (halves to even), (256-224)/2 = 16 */
	EXPECT_EQ(j.left, 58);
	EXPECT_EQ(j.top, 16);
	EXPECT_EQ(CenterCropOffset(3), 2);
	EXPECT_EQ(CenterCropOffset(5), 2);
	EXPECT_EQ(CenterCropOffset(0), 0);
	/* never smaller than the crop */
	j = ResampleJobFor(Spec(256, 224), 5000, 100);
	EXPECT_EQ(j.resized_height, 256);
	j = ResampleJobFor(Spec(0, 224), 640, 480);
	EXPECT_EQ(j.resized_width, 224);
	EXPECT_EQ(j.resized_height, 224);
}

} // namespace
} // namespace europeana::core
