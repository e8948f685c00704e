/*
 * decode_test.cpp — DecodeImage and PreprocessInto on real encoded images.
 */
#include "core/common/error.hpp"
#include "core/decode/image.hpp"
#include "test_support.hpp"

#include <cmath>

namespace europeana::core {
namespace {

using testing::Encode;
using testing::Gradient;
using testing::View;

ErrorKind
KindOf(ByteView bytes, const DecodeOptions &options = {}) {
	try {
		DecodeImage(bytes, options);
	} catch (const Error &e) {
		return e.Kind();
	}
	ADD_FAILURE() << "expected an error";
	return ErrorKind::Internal;
}

TEST(Decode, EveryFormatDecodesToEightBitBgr) {
	const cv::Mat img = Gradient(67, 45);
	for (const char *ext : {".jpg", ".png", ".tiff", ".webp", ".bmp", ".jp2"}) {
		const auto bytes = Encode(img, ext);
		const DecodedImage d = DecodeImage(View(bytes), {});
		EXPECT_EQ(d.bgr.cols, 67) << ext;
		EXPECT_EQ(d.bgr.rows, 45) << ext;
		EXPECT_EQ(d.bgr.type(), CV_8UC3) << ext;
	}
}

TEST(Decode, GreyAlphaAndSixteenBitBecomeBgr) {
	const auto grey = Encode(Gradient(40, 30, 1), ".png");
	const auto rgba = Encode(Gradient(40, 30, 4), ".png");
	const auto deep_png = Encode(Gradient(40, 30, 3, CV_16U), ".png");
	const auto deep_tiff = Encode(Gradient(40, 30, 3, CV_16U), ".tiff");
	for (const auto *bytes : {&grey, &rgba, &deep_png, &deep_tiff}) {
		const DecodedImage d = DecodeImage(View(*bytes), {});
		EXPECT_EQ(d.bgr.type(), CV_8UC3);
		EXPECT_EQ(d.bgr.cols, 40);
	}
	/* 16-bit values are scaled, not truncated: the red ramp still spans 0..255 */
	const DecodedImage d = DecodeImage(View(deep_png), {});
	EXPECT_GT(d.bgr.at<cv::Vec3b>(15, 39)[0], 200);
}

TEST(Decode, LargeJpegDecodesAtReducedScale) {
	const auto bytes = Encode(Gradient(2000, 1500), ".jpg");
	DecodeOptions options;
	options.min_shorter_side = 256;
	const DecodedImage d = DecodeImage(View(bytes), options);
	EXPECT_EQ(d.reduction, 4); /* 1500/4 = 375 >= 256, 1500/8 = 187 < 256 */
	EXPECT_EQ(d.bgr.cols, 500);
	EXPECT_EQ(d.bgr.rows, 375);
	EXPECT_EQ(d.header.width, 2000u);

	options.min_shorter_side = 0;
	EXPECT_EQ(DecodeImage(View(bytes), options).reduction, 1);
	/* PNG is never reduced: libpng cannot scale while decoding */
	options.min_shorter_side = 256;
	EXPECT_EQ(DecodeImage(View(Encode(Gradient(1200, 1200), ".png")), options).reduction, 1);
}

/* Inserts an EXIF APP1 segment with the given orientation right after SOI. */
std::vector<uint8_t>
WithExifOrientation(const std::vector<uint8_t> &jpeg, uint16_t orientation) {
	const uint8_t tiff[] = {'I', 'I', 42, 0, 8, 0, 0, 0, /* IFD at 8 */
	                        1, 0,                           /* one entry */
	                        0x12, 0x01, 3, 0, 1, 0, 0, 0,   /* Orientation, SHORT, count 1 */
	                        static_cast<uint8_t>(orientation), 0, 0, 0, 0, 0, 0, 0};
	std::vector<uint8_t> app1 = {0xFF, 0xE1, 0, 0, 'E', 'x', 'i', 'f', 0, 0};
	app1.insert(app1.end(), std::begin(tiff), std::end(tiff));
	const size_t len = app1.size() - 2;
	app1[2] = static_cast<uint8_t>(len >> 8);
	app1[3] = static_cast<uint8_t>(len & 0xFF);
	std::vector<uint8_t> out;
	out.reserve(jpeg.size() + app1.size());
	out.push_back(jpeg[0]);
	out.push_back(jpeg[1]);
	std::copy(app1.begin(), app1.end(), std::back_inserter(out));
	std::copy(jpeg.begin() + 2, jpeg.end(), std::back_inserter(out));
	return out;
}

TEST(Decode, ExifOrientationIsApplied) {
	const auto plain = Encode(Gradient(80, 40), ".jpg");
	const auto rotated = WithExifOrientation(plain, 6); /* rotate 90 degrees clockwise */
	const DecodedImage d = DecodeImage(View(rotated), {});
	EXPECT_EQ(d.bgr.cols, 40);
	EXPECT_EQ(d.bgr.rows, 80);
	/* also at reduced scale */
	const auto big = WithExifOrientation(Encode(Gradient(1600, 800), ".jpg"), 6);
	DecodeOptions options;
	options.min_shorter_side = 200;
	const DecodedImage r = DecodeImage(View(big), options);
	EXPECT_EQ(r.reduction, 4);
	EXPECT_EQ(r.bgr.cols, 200);
	EXPECT_EQ(r.bgr.rows, 400);
}

TEST(Decode, BadInputIsRefusedWithTheRightKind) {
	const auto jpeg = Encode(Gradient(300, 200), ".jpg");
	std::vector<uint8_t> truncated(jpeg.begin(), jpeg.begin() + jpeg.size() / 2);
	EXPECT_EQ(KindOf(View(truncated)), ErrorKind::InvalidData);
	EXPECT_EQ(KindOf(ByteView {}), ErrorKind::InvalidData);
	const std::string html = "<!DOCTYPE html><html><body>not found</body></html>";
	EXPECT_EQ(KindOf(ByteView {reinterpret_cast<const uint8_t *>(html.data()), html.size()}), ErrorKind::InvalidData);

	/* header claims 100000 x 100000 pixels */
	auto png = Encode(Gradient(16, 16), ".png");
	png[16] = 0x00, png[17] = 0x01, png[18] = 0x86, png[19] = 0xA0; /* width 100000 */
	png[20] = 0x00, png[21] = 0x01, png[22] = 0x86, png[23] = 0xA0; /* height 100000 */
	EXPECT_EQ(KindOf(View(png)), ErrorKind::ResourceLimit);

	/* a limit below the image's size refuses an otherwise fine image */
	DecodeOptions tight;
	tight.max_pixels = 300 * 200 - 1;
	EXPECT_EQ(KindOf(View(jpeg), tight), ErrorKind::ResourceLimit);

	/* a valid header followed by garbage */
	std::vector<uint8_t> garbage = Encode(Gradient(64, 64), ".png");
	for (size_t i = 40; i + 12 < garbage.size(); i++) {
		garbage[i] ^= 0x5A;
	}
	EXPECT_EQ(KindOf(View(garbage)), ErrorKind::InvalidData);
}

TEST(Preprocess, NormalisesLikeTorchvision) {
	cv::Mat red(300, 400, CV_8UC3, cv::Scalar(0, 0, 255)); /* BGR */
	InputSpec spec;
	std::vector<float> chw(3 * 224 * 224);
	PreprocessInto(red, spec, chw.data());
	const size_t plane = 224 * 224;
	EXPECT_NEAR(chw[0], (1.0f - 0.485f) / 0.229f, 1e-4);
	EXPECT_NEAR(chw[plane + 100], (0.0f - 0.456f) / 0.224f, 1e-4);
	EXPECT_NEAR(chw[2 * plane + plane - 1], (0.0f - 0.406f) / 0.225f, 1e-4);

	spec.rgb = false; /* BGR models take blue first */
	PreprocessInto(red, spec, chw.data());
	EXPECT_NEAR(chw[0], (0.0f - 0.485f) / 0.229f, 1e-4);
}

TEST(Preprocess, CentreCropKeepsTheMiddle) {
	/* left half black, right half white, 512x256: resize to 512x256 is identity for
	 * resize 256, the crop is x 144..367, half black and half white */
	cv::Mat img(256, 512, CV_8UC3, cv::Scalar(0, 0, 0));
	img(cv::Rect(256, 0, 256, 256)).setTo(cv::Scalar(255, 255, 255));
	InputSpec spec;
	spec.mean = {0, 0, 0};
	spec.std = {1, 1, 1};
	std::vector<float> chw(3 * 224 * 224);
	PreprocessInto(img, spec, chw.data());
	EXPECT_NEAR(chw[0], 0.0f, 1e-6);      /* x = 144: black */
	EXPECT_NEAR(chw[223], 1.0f, 1e-6);    /* x = 367: white */
	EXPECT_NEAR(chw[111], 0.0f, 1e-6);    /* x = 255 */
	EXPECT_NEAR(chw[112], 1.0f, 1e-6);    /* x = 256 */
}

TEST(Preprocess, CentreCropRoundsHalvesToEvenLikeTorchvision) {
	/* 192x256 (w x h) → resize 256x341; (341 - 224) / 2 = 58.5 → Python round gives 58 */
	cv::Mat img(256, 192, CV_8UC3, cv::Scalar(0, 0, 0));
	InputSpec spec;
	spec.mean = {0, 0, 0};
	spec.std = {1, 1, 1};
	spec.resize_shorter = 0;
	spec.crop_width = 192;
	spec.crop_height = 224;
	/* rows 0..15 white: with top = 16 (= round-half-even of 16) the crop starts below them */
	img(cv::Rect(0, 0, 192, 16)).setTo(cv::Scalar(255, 255, 255));
	spec.resize_shorter = 192; /* identity resize, (256 - 224) / 2 = 16 exactly */
	std::vector<float> chw(3 * 224 * 192);
	PreprocessInto(img, spec, chw.data());
	EXPECT_NEAR(chw[0], 0.0f, 1e-6);
	/* now a height that gives a .5 offset: 257 rows, (257 - 224) / 2 = 16.5 → 16 (even) */
	cv::Mat odd(257, 192, CV_8UC3, cv::Scalar(0, 0, 0));
	odd(cv::Rect(0, 16, 192, 1)).setTo(cv::Scalar(255, 255, 255)); /* row 16 white */
	PreprocessInto(odd, spec, chw.data());
	EXPECT_NEAR(chw[0], 1.0f, 1e-6) << "crop must start at row 16, as torchvision's round(16.5) = 16";
	/* 17.5 → 18 (even) */
	cv::Mat odd2(259, 192, CV_8UC3, cv::Scalar(0, 0, 0));
	odd2(cv::Rect(0, 18, 192, 1)).setTo(cv::Scalar(255, 255, 255));
	PreprocessInto(odd2, spec, chw.data());
	EXPECT_NEAR(chw[0], 1.0f, 1e-6) << "crop must start at row 18, as round(17.5) = 18";
}

TEST(Preprocess, ElongatedImagesStayWithinTheCropsMemory) {
	/* a 1 x 20000 strip would resize to 256 x 5120000 (3.9 GB) if resized before cropping */
	cv::Mat strip(20000, 1, CV_8UC3, cv::Scalar(10, 20, 30));
	InputSpec spec;
	std::vector<float> chw(3 * 224 * 224);
	PreprocessInto(strip, spec, chw.data());
	EXPECT_NEAR(chw[0], (30.0f / 255 - 0.485f) / 0.229f, 1e-4);
	const auto png = Encode(strip, ".png");
	DecodeOptions options;
	options.min_shorter_side = 256;
	const DecodedImage d = DecodeImage(View(png), options);
	PreprocessInto(d.bgr, spec, chw.data());
	EXPECT_NEAR(chw[224 * 224 - 1], (30.0f / 255 - 0.485f) / 0.229f, 1e-4);
}

TEST(Decode, SidesBeyondOpenCvsLimitAreRefusedNotThrown) {
	/* header claims 1 x 2000000: OpenCV would throw cv::Exception from imdecode */
	auto png = Encode(Gradient(16, 16), ".png");
	png[16] = 0, png[17] = 0, png[18] = 0, png[19] = 1;          /* width 1 */
	png[20] = 0x00, png[21] = 0x1E, png[22] = 0x84, png[23] = 0x80; /* height 2000000 */
	EXPECT_EQ(KindOf(View(png)), ErrorKind::ResourceLimit);
}

} // namespace
} // namespace europeana::core
