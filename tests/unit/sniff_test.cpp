/*
 * sniff_test.cpp — unit tests for format sniffing and header-only dimension parsing.
 *
 * Small but structurally valid files of every supported format are built byte by byte
 * here, so the expected dimensions and truncation points are known exactly.  Every sample
 * is also cut at each prefix length and randomly mutated: ReadImageHeader must then either
 * return a header or throw InvalidInput, never crash or read past the end (run under
 * AddressSanitizer to make the latter visible).  When OpenCV's imgcodecs header is present,
 * real encoder output is checked as well.
 */
#include "core/decode/sniff.hpp"

#include "core/common/error.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <initializer_list>
#include <memory>
#include <random>
#include <string>
#include <vector>

#if !defined(EUROPEANA_SNIFF_TEST_NO_OPENCV) && __has_include(<opencv2/imgcodecs.hpp>)
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#define EUROPEANA_SNIFF_TEST_OPENCV 1
#endif

namespace europeana::core {
namespace {

using Bytes = std::vector<uint8_t>;

ByteView
View(const Bytes &bytes) {
	return ByteView{bytes.data(), bytes.size()};
}

void
Put(Bytes &out, std::initializer_list<int> values) {
	for (int v : values) {
		out.push_back(static_cast<uint8_t>(v));
	}
}

void
PutBytes(Bytes &out, const Bytes &more) {
	out.insert(out.end(), more.begin(), more.end());
}

void
PutText(Bytes &out, const std::string &text) {
	out.insert(out.end(), text.begin(), text.end());
}

void
PutBe16(Bytes &out, uint32_t v) {
	Put(out, {int(v >> 8 & 0xFF), int(v & 0xFF)});
}

void
PutBe32(Bytes &out, uint32_t v) {
	Put(out, {int(v >> 24 & 0xFF), int(v >> 16 & 0xFF), int(v >> 8 & 0xFF), int(v & 0xFF)});
}

void
PutBe64(Bytes &out, uint64_t v) {
	PutBe32(out, static_cast<uint32_t>(v >> 32));
	PutBe32(out, static_cast<uint32_t>(v));
}

void
PutLe16(Bytes &out, uint32_t v) {
	Put(out, {int(v & 0xFF), int(v >> 8 & 0xFF)});
}

void
PutLe32(Bytes &out, uint32_t v) {
	Put(out, {int(v & 0xFF), int(v >> 8 & 0xFF), int(v >> 16 & 0xFF), int(v >> 24 & 0xFF)});
}

void
PutLe64(Bytes &out, uint64_t v) {
	PutLe32(out, static_cast<uint32_t>(v));
	PutLe32(out, static_cast<uint32_t>(v >> 32));
}

void
SetLe32(Bytes &out, size_t pos, uint32_t v) {
	for (int i = 0; i < 4; i++) {
		out[pos + i] = static_cast<uint8_t>(v >> (8 * i));
	}
}

/* Calls ReadImageHeader expecting InvalidInput with a hint; returns the message. */
std::string
InvalidInputMessage(ByteView bytes) {
	try {
		ImageHeader header = ReadImageHeader(bytes);
		ADD_FAILURE() << "expected InvalidInput, got " << FormatName(header.format) << " " << header.width << "x"
		              << header.height;
	} catch (const Error &e) {
		EXPECT_EQ(e.Kind(), ErrorKind::InvalidInput) << e.what();
		EXPECT_FALSE(e.Hint().empty()) << e.what();
		return e.what();
	}
	return {};
}

std::string
InvalidInputMessage(const Bytes &bytes) {
	return InvalidInputMessage(View(bytes));
}

/* ---------------------------------------------------------------- sample builders */

Bytes
JpegSegment(uint8_t marker, const Bytes &payload) {
	Bytes out = {0xFF, marker};
	PutBe16(out, static_cast<uint32_t>(payload.size() + 2));
	PutBytes(out, payload);
	return out;
}

Bytes
JpegFrame(uint8_t sof, uint32_t width, uint32_t height) {
	Bytes payload = {8};
	PutBe16(payload, height);
	PutBe16(payload, width);
	Put(payload, {3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1});
	return JpegSegment(sof, payload);
}

Bytes
JpegScanHeader() {
	return JpegSegment(0xDA, {3, 1, 0x00, 2, 0x11, 3, 0x11, 0, 0x3F, 0});
}

/* Entropy-coded bytes with stuffing (FF 00) and restart markers (FF D0, FF D7). */
Bytes
JpegEntropyData() {
	return {0x12, 0x34, 0xFF, 0x00, 0x56, 0xFF, 0xD0, 0x78, 0x9A, 0xFF, 0x00, 0xFF, 0xD7, 0xBC, 0xDE, 0x01};
}

/* A minimal complete JPEG, used as an EXIF thumbnail. */
Bytes
MakeThumbnail() {
	Bytes out = {0xFF, 0xD8};
	PutBytes(out, JpegFrame(0xC0, 160, 120));
	PutBytes(out, JpegScanHeader());
	PutBytes(out, JpegEntropyData());
	Put(out, {0xFF, 0xD9});
	return out;
}

struct JpegOptions {
	bool exif_thumbnail = false;
	bool progressive = false;
};

Bytes
MakeJpeg(uint32_t width, uint32_t height, JpegOptions options = {}) {
	Bytes out = {0xFF, 0xD8};
	PutBytes(out, JpegSegment(0xE0, {'J', 'F', 'I', 'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0}));
	if (options.exif_thumbnail) {
		Bytes exif = {'E', 'x', 'i', 'f', 0, 0};
		PutBytes(exif, MakeThumbnail());
		PutBytes(out, JpegSegment(0xE1, exif));
	}
	PutBytes(out, JpegSegment(0xFE, {'F', 'F', 0xFF, 0xD9, ' ', 'i', 'n', ' ', 'C', 'O', 'M'}));
	Bytes table = {0};
	for (int i = 0; i < 64; i++) {
		table.push_back(static_cast<uint8_t>(i % 2 == 0 ? 0xFF : 0xD9));
	}
	PutBytes(out, JpegSegment(0xDB, table));
	PutBytes(out, JpegFrame(options.progressive ? 0xC2 : 0xC0, width, height));
	PutBytes(out, JpegSegment(0xDD, {0, 4})); /* DRI */
	PutBytes(out, JpegScanHeader());
	PutBytes(out, JpegEntropyData());
	if (options.progressive) {
		/* a DHT between scans whose table bytes contain FF D9 */
		Bytes dht = {0x10, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xD9};
		PutBytes(out, JpegSegment(0xC4, dht));
		PutBytes(out, JpegSegment(0xDA, {1, 1, 0x00, 1, 5, 0}));
		PutBytes(out, JpegEntropyData());
		PutBytes(out, JpegSegment(0xDA, {1, 2, 0x00, 1, 5, 0}));
		PutBytes(out, JpegEntropyData());
	}
	Put(out, {0xFF, 0xD9});
	return out;
}

Bytes
PngChunk(const char *type, const Bytes &data) {
	Bytes out;
	PutBe32(out, static_cast<uint32_t>(data.size()));
	PutText(out, type);
	PutBytes(out, data);
	PutBe32(out, 0); /* the CRC is not checked by the sniffer */
	return out;
}

Bytes
MakePng(uint32_t width, uint32_t height, bool with_iend = true) {
	Bytes out = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
	Bytes ihdr;
	PutBe32(ihdr, width);
	PutBe32(ihdr, height);
	Put(ihdr, {8, 2, 0, 0, 0});
	PutBytes(out, PngChunk("IHDR", ihdr));
	PutBytes(out, PngChunk("tEXt", {'I', 'E', 'N', 'D', 0, 'x'}));
	PutBytes(out, PngChunk("IDAT", {0x78, 0x9C, 'I', 'E', 'N', 'D', 1, 2, 3, 4}));
	PutBytes(out, PngChunk("IDAT", {5, 6, 7, 8}));
	if (with_iend) {
		PutBytes(out, PngChunk("IEND", {}));
	}
	return out;
}

struct TiffOptions {
	bool big_endian = false;
	bool long_dimensions = false; /* LONG (4) instead of SHORT (3) */
	bool one_strip_per_row = false;
};

/* A classic TIFF: header, one IFD at offset 8, then (optionally) strip tables and pixels. */
Bytes
MakeTiff(uint32_t width, uint32_t height, TiffOptions options = {}) {
	const bool be = options.big_endian;
	auto put16 = [be](Bytes &out, uint32_t v) { be ? PutBe16(out, v) : PutLe16(out, v); };
	auto put32 = [be](Bytes &out, uint32_t v) { be ? PutBe32(out, v) : PutLe32(out, v); };
	const uint32_t strips = options.one_strip_per_row ? height : 1;
	const uint32_t entries = 8;
	const uint32_t ifd_size = 2 + entries * 12 + 4;
	const uint32_t tables = 8 + ifd_size;
	const uint32_t pixels = tables + (strips > 1 ? 8 * strips : 0);

	Bytes out;
	if (be) {
		Put(out, {'M', 'M', 0, 42});
	} else {
		Put(out, {'I', 'I', 42, 0});
	}
	put32(out, 8);
	put16(out, entries);
	auto entry = [&](uint32_t tag, uint32_t type, uint32_t count, uint32_t value) {
		put16(out, tag);
		put16(out, type);
		put32(out, count);
		if (type == 3 && count == 1) {
			put16(out, value); /* a SHORT is left-justified in the value field */
			put16(out, 0);
		} else {
			put32(out, value);
		}
	};
	entry(256, options.long_dimensions ? 4 : 3, 1, width);
	entry(257, options.long_dimensions ? 4 : 3, 1, height);
	entry(258, 3, 1, 8);
	entry(259, 3, 1, 1);
	entry(262, 3, 1, 1);
	entry(273, 4, strips, strips > 1 ? tables : pixels);
	entry(278, 3, 1, strips > 1 ? 1 : height);
	entry(279, 4, strips, strips > 1 ? tables + 4 * strips : width * height);
	put32(out, 0); /* no next IFD */
	if (strips > 1) {
		for (uint32_t i = 0; i < strips; i++) {
			put32(out, pixels + i * width);
		}
		for (uint32_t i = 0; i < strips; i++) {
			put32(out, width);
		}
	}
	out.resize(out.size() + size_t{width} * height, 0x80);
	return out;
}

Bytes
MakeBigTiff(uint64_t width, uint64_t height) {
	Bytes out = {'I', 'I', 43, 0, 8, 0, 0, 0};
	PutLe64(out, 16);
	const uint64_t entries = 4;
	const uint64_t pixels = 16 + 8 + entries * 20 + 8;
	PutLe64(out, entries);
	auto entry = [&](uint32_t tag, uint32_t type, uint64_t count, uint64_t value) {
		PutLe16(out, tag);
		PutLe16(out, type);
		PutLe64(out, count);
		PutLe64(out, value);
	};
	entry(256, 16, 1, width);
	entry(257, 4, 1, height);
	entry(273, 16, 1, pixels);
	entry(279, 4, 1, 4);
	PutLe64(out, 0);
	out.resize(out.size() + 4, 0x80);
	return out;
}

Bytes
Riff(const std::string &chunk_type, const Bytes &chunk_data) {
	Bytes out;
	PutText(out, "RIFF");
	PutLe32(out, static_cast<uint32_t>(4 + 8 + chunk_data.size()));
	PutText(out, "WEBP");
	PutText(out, chunk_type);
	PutLe32(out, static_cast<uint32_t>(chunk_data.size()));
	PutBytes(out, chunk_data);
	return out;
}

Bytes
MakeWebPLossy(uint32_t width, uint32_t height) {
	Bytes data = {0x30, 0x01, 0x00, 0x9D, 0x01, 0x2A};
	PutLe16(data, width | 0x4000); /* a horizontal scale in the top bits is ignored */
	PutLe16(data, height);
	Put(data, {1, 2, 3, 4, 5, 6});
	return Riff("VP8 ", data);
}

Bytes
MakeWebPLossless(uint32_t width, uint32_t height) {
	Bytes data = {0x2F};
	PutLe32(data, (width - 1) | ((height - 1) << 14) | (1u << 28));
	Put(data, {7, 8, 9});
	return Riff("VP8L", data);
}

Bytes
MakeWebPExtended(uint32_t width, uint32_t height) {
	Bytes data = {0x10, 0, 0, 0};
	Put(data, {int((width - 1) & 0xFF), int((width - 1) >> 8 & 0xFF), int((width - 1) >> 16 & 0xFF)});
	Put(data, {int((height - 1) & 0xFF), int((height - 1) >> 8 & 0xFF), int((height - 1) >> 16 & 0xFF)});
	return Riff("VP8X", data);
}

Bytes
MakeBmp(int32_t width, int32_t height) {
	const uint32_t abs_height = static_cast<uint32_t>(height < 0 ? -height : height);
	const uint32_t row = (static_cast<uint32_t>(width) * 3 + 3) & ~3u;
	const uint32_t file_size = 54 + row * abs_height;
	Bytes out = {'B', 'M'};
	PutLe32(out, file_size);
	PutLe32(out, 0);
	PutLe32(out, 54);
	PutLe32(out, 40);
	PutLe32(out, static_cast<uint32_t>(width));
	PutLe32(out, static_cast<uint32_t>(height));
	PutLe16(out, 1);
	PutLe16(out, 24);
	PutLe32(out, 0);
	PutLe32(out, row * abs_height);
	PutLe32(out, 2835);
	PutLe32(out, 2835);
	PutLe32(out, 0);
	PutLe32(out, 0);
	out.resize(file_size, 0x40);
	return out;
}

Bytes
MakeBmpCore(uint16_t width, uint16_t height) {
	const uint32_t row = (uint32_t{width} * 3 + 3) & ~3u;
	const uint32_t file_size = 26 + row * height;
	Bytes out = {'B', 'M'};
	PutLe32(out, file_size);
	PutLe32(out, 0);
	PutLe32(out, 26);
	PutLe32(out, 12);
	PutLe16(out, width);
	PutLe16(out, height);
	PutLe16(out, 1);
	PutLe16(out, 24);
	out.resize(file_size, 0x40);
	return out;
}

Bytes
MakeJ2kCodestream(uint32_t width, uint32_t height, uint32_t x_offset = 0, uint32_t y_offset = 0) {
	Bytes out = {0xFF, 0x4F, 0xFF, 0x51};
	PutBe16(out, 41);
	PutBe16(out, 0);
	PutBe32(out, width + x_offset);
	PutBe32(out, height + y_offset);
	PutBe32(out, x_offset);
	PutBe32(out, y_offset);
	PutBe32(out, width + x_offset);
	PutBe32(out, height + y_offset);
	PutBe32(out, 0);
	PutBe32(out, 0);
	PutBe16(out, 1);
	Put(out, {7, 1, 1});
	Put(out, {0xFF, 0x93, 0x11, 0x22, 0x33}); /* SOD and a little "data" */
	Put(out, {0xFF, 0xD9});
	return out;
}

Bytes
Jp2Box(const char *type, const Bytes &content) {
	Bytes out;
	PutBe32(out, static_cast<uint32_t>(content.size() + 8));
	PutText(out, type);
	PutBytes(out, content);
	return out;
}

Bytes
MakeJp2(uint32_t width, uint32_t height) {
	Bytes out = {0x00, 0x00, 0x00, 0x0C, 'j', 'P', ' ', ' ', 0x0D, 0x0A, 0x87, 0x0A};
	Bytes ftyp;
	PutText(ftyp, "jp2 ");
	PutBe32(ftyp, 0);
	PutText(ftyp, "jp2 ");
	PutBytes(out, Jp2Box("ftyp", ftyp));
	Bytes ihdr;
	PutBe32(ihdr, height);
	PutBe32(ihdr, width);
	Put(ihdr, {0, 1, 7, 7, 0, 0});
	Bytes jp2h = Jp2Box("ihdr", ihdr);
	PutBytes(jp2h, Jp2Box("colr", {1, 0, 0, 0, 0, 0, 17}));
	PutBytes(out, Jp2Box("jp2h", jp2h));
	PutBytes(out, Jp2Box("jp2c", MakeJ2kCodestream(width, height)));
	return out;
}

struct Sample {
	std::string name;
	Bytes bytes;
	ImageFormat format;
	uint32_t width;
	uint32_t height;
};

std::vector<Sample>
AllSamples() {
	return {
	    {"jpeg", MakeJpeg(640, 480), ImageFormat::Jpeg, 640, 480},
	    {"jpeg-exif", MakeJpeg(4000, 3000, {true, false}), ImageFormat::Jpeg, 4000, 3000},
	    {"jpeg-progressive", MakeJpeg(65535, 7, {true, true}), ImageFormat::Jpeg, 65535, 7},
	    {"png", MakePng(100, 50), ImageFormat::Png, 100, 50},
	    {"tiff-le-short", MakeTiff(5, 3), ImageFormat::Tiff, 5, 3},
	    {"tiff-be-long", MakeTiff(6, 4, {true, true, false}), ImageFormat::Tiff, 6, 4},
	    {"tiff-le-strips", MakeTiff(7, 5, {false, false, true}), ImageFormat::Tiff, 7, 5},
	    {"tiff-be-strips", MakeTiff(3, 6, {true, true, true}), ImageFormat::Tiff, 3, 6},
	    {"bigtiff", MakeBigTiff(70000, 2), ImageFormat::Tiff, 70000, 2},
	    {"webp-lossy", MakeWebPLossy(300, 200), ImageFormat::WebP, 300, 200},
	    {"webp-lossless", MakeWebPLossless(16384, 1), ImageFormat::WebP, 16384, 1},
	    {"webp-extended", MakeWebPExtended(16777216, 3), ImageFormat::WebP, 16777216, 3},
	    {"bmp", MakeBmp(5, 3), ImageFormat::Bmp, 5, 3},
	    {"bmp-top-down", MakeBmp(4, -2), ImageFormat::Bmp, 4, 2},
	    {"bmp-core", MakeBmpCore(3, 2), ImageFormat::Bmp, 3, 2},
	    {"jp2", MakeJp2(1024, 768), ImageFormat::Jpeg2000, 1024, 768},
	    {"j2k", MakeJ2kCodestream(33, 44, 10, 20), ImageFormat::Jpeg2000, 33, 44},
	};
}

/* Copies a prefix into its own heap block so that AddressSanitizer sees any over-read. */
std::unique_ptr<uint8_t[]>
CopyPrefix(const Bytes &bytes, size_t length) {
	std::unique_ptr<uint8_t[]> copy(new uint8_t[length == 0 ? 1 : length]);
	std::copy(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(length), copy.get());
	return copy;
}

/* ---------------------------------------------------------------- tests */

TEST(SniffTest, NamesAndMimeTypes) {
	EXPECT_STREQ(FormatName(ImageFormat::Jpeg), "jpeg");
	EXPECT_STREQ(FormatName(ImageFormat::Png), "png");
	EXPECT_STREQ(FormatName(ImageFormat::Tiff), "tiff");
	EXPECT_STREQ(FormatName(ImageFormat::WebP), "webp");
	EXPECT_STREQ(FormatName(ImageFormat::Bmp), "bmp");
	EXPECT_STREQ(FormatName(ImageFormat::Jpeg2000), "jpeg2000");
	EXPECT_STREQ(FormatName(ImageFormat::Gif), "gif");
	EXPECT_STREQ(FormatName(ImageFormat::Unknown), "unknown");
	EXPECT_STREQ(FormatMimeType(ImageFormat::Jpeg), "image/jpeg");
	EXPECT_STREQ(FormatMimeType(ImageFormat::Png), "image/png");
	EXPECT_STREQ(FormatMimeType(ImageFormat::Tiff), "image/tiff");
	EXPECT_STREQ(FormatMimeType(ImageFormat::WebP), "image/webp");
	EXPECT_STREQ(FormatMimeType(ImageFormat::Bmp), "image/bmp");
	EXPECT_STREQ(FormatMimeType(ImageFormat::Jpeg2000), "image/jp2");
	EXPECT_STREQ(FormatMimeType(ImageFormat::Gif), "image/gif");
	EXPECT_STREQ(FormatMimeType(ImageFormat::Unknown), "application/octet-stream");
}

TEST(SniffTest, ReadsEverySample) {
	for (const Sample &sample : AllSamples()) {
		SCOPED_TRACE(sample.name);
		EXPECT_EQ(SniffFormat(View(sample.bytes)), sample.format);
		ImageHeader header = ReadImageHeader(View(sample.bytes));
		EXPECT_EQ(header.format, sample.format);
		EXPECT_EQ(header.width, sample.width);
		EXPECT_EQ(header.height, sample.height);
		EXPECT_TRUE(header.complete);
	}
}

TEST(SniffTest, SniffNeedsOnlyMagicBytes) {
	Bytes gif = {'G', 'I', 'F', '8', '9', 'a'};
	EXPECT_EQ(SniffFormat(View(gif)), ImageFormat::Gif);
	Bytes jpeg = {0xFF, 0xD8, 0xFF};
	EXPECT_EQ(SniffFormat(View(jpeg)), ImageFormat::Jpeg);
	Bytes bm = {'B', 'M'};
	EXPECT_EQ(SniffFormat(View(bm)), ImageFormat::Bmp);
	Bytes text;
	PutText(text, "BMW owners club newsletter");
	EXPECT_EQ(SniffFormat(View(text)), ImageFormat::Unknown);
	EXPECT_EQ(SniffFormat(ByteView{}), ImageFormat::Unknown);
}

TEST(SniffTest, JpegExifThumbnailDoesNotCountAsEnd) {
	Bytes full = MakeJpeg(4000, 3000, {true, false});
	/* Cut the main image inside its entropy data: the thumbnail's EOI in APP1 remains. */
	Bytes cut(full.begin(), full.end() - 6);
	ImageHeader header = ReadImageHeader(View(cut));
	EXPECT_EQ(header.width, 4000u);
	EXPECT_EQ(header.height, 3000u);
	EXPECT_FALSE(header.complete);

	/* Cut before the main SOS: the thumbnail's dimensions must not be reported either. */
	Bytes thumbnail = MakeThumbnail();
	Bytes early(full.begin(), full.begin() + 2 + 18 + 4 + 6 + static_cast<std::ptrdiff_t>(thumbnail.size()));
	EXPECT_NE(InvalidInputMessage(early).find("truncated"), std::string::npos);
}

/* An APP1 "Exif" payload whose IFD0 holds one orientation entry, in either byte order. */
Bytes
ExifOrientationPayload(uint16_t orientation, bool little) {
	Bytes p = {'E', 'x', 'i', 'f', 0, 0};
	const auto u16 = [&](uint16_t v) {
		if (little) {
			Put(p, {static_cast<uint8_t>(v & 0xFF), static_cast<uint8_t>(v >> 8)});
		} else {
			Put(p, {static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v & 0xFF)});
		}
	};
	const auto u32 = [&](uint32_t v) {
		if (little) {
			u16(static_cast<uint16_t>(v & 0xFFFF));
			u16(static_cast<uint16_t>(v >> 16));
		} else {
			u16(static_cast<uint16_t>(v >> 16));
			u16(static_cast<uint16_t>(v & 0xFFFF));
		}
	};
	PutBytes(p, little ? Bytes {'I', 'I'} : Bytes {'M', 'M'});
	u16(42);
	u32(8);            /* IFD0 right after the header */
	u16(1);            /* one entry */
	u16(0x0112);       /* orientation */
	u16(3);            /* SHORT */
	u32(1);            /* count */
	u16(orientation);  /* value, left-justified */
	u16(0);
	u32(0);            /* no next IFD */
	return p;
}

TEST(SniffTest, JpegFrameComponentsAndExifOrientation) {
	const ImageHeader plain = ReadImageHeader(View(MakeJpeg(640, 480)));
	EXPECT_EQ(plain.jpeg_frame, 0xC0);
	EXPECT_EQ(plain.components, 3);
	EXPECT_EQ(plain.orientation, 1) << "no EXIF: upright";
	EXPECT_EQ(ReadImageHeader(View(MakeJpeg(640, 480, {false, true}))).jpeg_frame, 0xC2);

	for (bool little : {true, false}) {
		Bytes jpeg = MakeJpeg(640, 480);
		const Bytes app1 = JpegSegment(0xE1, ExifOrientationPayload(6, little));
		jpeg.insert(jpeg.begin() + 2, app1.begin(), app1.end());
		/* an XMP APP1 after it says nothing about orientation and must not reset it */
		Bytes xmp_payload;
		PutText(xmp_payload, "http://ns.adobe.com/xap/1.0/");
		const Bytes xmp = JpegSegment(0xE1, xmp_payload);
		jpeg.insert(jpeg.begin() + 2 + static_cast<std::ptrdiff_t>(app1.size()), xmp.begin(), xmp.end());
		EXPECT_EQ(ReadImageHeader(View(jpeg)).orientation, 6) << (little ? "II" : "MM");
	}
	/* an EXIF block cut short or with an IFD offset past its end reads as upright */
	Bytes broken = ExifOrientationPayload(8, true);
	broken[10] = 0xF0; /* IFD offset far beyond the payload */
	Bytes jpeg = MakeJpeg(64, 48);
	const Bytes app1 = JpegSegment(0xE1, broken);
	jpeg.insert(jpeg.begin() + 2, app1.begin(), app1.end());
	EXPECT_EQ(ReadImageHeader(View(jpeg)).orientation, 1);
}

TEST(SniffTest, JpegCompleteOnlyWithFinalEoi) {
	for (bool progressive : {false, true}) {
		Bytes full = MakeJpeg(640, 480, {true, progressive});
		EXPECT_TRUE(ReadImageHeader(View(full)).complete);
		/* Every shorter prefix that still has the frame header is incomplete. */
		for (size_t length = 0; length < full.size(); length++) {
			auto copy = CopyPrefix(full, length);
			try {
				ImageHeader header = ReadImageHeader(ByteView{copy.get(), length});
				EXPECT_EQ(header.width, 640u);
				EXPECT_FALSE(header.complete) << "prefix " << length << " of " << full.size();
			} catch (const Error &e) {
				EXPECT_EQ(e.Kind(), ErrorKind::InvalidInput);
			}
		}
	}
}

TEST(SniffTest, JpegTrailingDataAfterEoiIsComplete) {
	Bytes jpeg = MakeJpeg(10, 20);
	Put(jpeg, {0, 0, 0x12, 0xFF});
	ImageHeader header = ReadImageHeader(View(jpeg));
	EXPECT_TRUE(header.complete);
}

TEST(SniffTest, JpegStructuralErrors) {
	Bytes no_frame = {0xFF, 0xD8};
	PutBytes(no_frame, JpegScanHeader());
	Put(no_frame, {1, 2, 0xFF, 0xD9});
	EXPECT_NE(InvalidInputMessage(no_frame).find("frame header"), std::string::npos);

	Bytes huge_app = {0xFF, 0xD8, 0xFF, 0xE1, 0xFF, 0xFF, 'E', 'x', 'i', 'f'};
	EXPECT_NE(InvalidInputMessage(huge_app).find("truncated"), std::string::npos);

	Bytes bad_length = {0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x01, 0, 0, 0};
	EXPECT_NE(InvalidInputMessage(bad_length).find("corrupt"), std::string::npos);

	Bytes zero = MakeJpeg(0, 480);
	EXPECT_EQ(InvalidInputMessage(zero), "image has zero width or height");
}

TEST(SniffTest, PngWithoutIendIsIncomplete) {
	ImageHeader header = ReadImageHeader(View(MakePng(100, 50, false)));
	EXPECT_EQ(header.width, 100u);
	EXPECT_EQ(header.height, 50u);
	EXPECT_FALSE(header.complete);

	Bytes full = MakePng(100, 50);
	for (size_t length = 0; length < full.size(); length++) {
		auto copy = CopyPrefix(full, length);
		try {
			EXPECT_FALSE(ReadImageHeader(ByteView{copy.get(), length}).complete) << "prefix " << length;
		} catch (const Error &e) {
			EXPECT_EQ(e.Kind(), ErrorKind::InvalidInput);
		}
	}
}

TEST(SniffTest, PngBombHeaderReadsFine) {
	Bytes png = MakePng(100000, 100000);
	ImageHeader header = ReadImageHeader(View(png));
	EXPECT_EQ(header.format, ImageFormat::Png);
	EXPECT_EQ(header.width, 100000u);
	EXPECT_EQ(header.height, 100000u);
	EXPECT_TRUE(header.complete);
}

TEST(SniffTest, PngHugeChunkLengths) {
	for (uint32_t length : {0x7FFFFFFFu, 0x80000000u, 0xFFFFFFFFu}) {
		Bytes png = MakePng(8, 8, false);
		PutBe32(png, length);
		PutText(png, "IDAT");
		Put(png, {1, 2, 3});
		ImageHeader header = ReadImageHeader(View(png));
		EXPECT_EQ(header.width, 8u);
		EXPECT_FALSE(header.complete);
	}
}

TEST(SniffTest, PngStructuralErrors) {
	Bytes png = MakePng(0, 5);
	EXPECT_EQ(InvalidInputMessage(png), "image has zero width or height");
	Bytes not_ihdr = MakePng(5, 5);
	not_ihdr[12] = 'X';
	EXPECT_NE(InvalidInputMessage(not_ihdr).find("IHDR"), std::string::npos);
	Bytes signature_only(png.begin(), png.begin() + 8);
	EXPECT_NE(InvalidInputMessage(signature_only).find("PNG header is truncated"), std::string::npos);
}

TEST(SniffTest, TiffTruncatedPixelsAreIncomplete) {
	for (bool strips : {false, true}) {
		Bytes tiff = MakeTiff(7, 5, {false, false, strips});
		tiff.resize(tiff.size() - 1);
		ImageHeader header = ReadImageHeader(View(tiff));
		EXPECT_EQ(header.width, 7u);
		EXPECT_EQ(header.height, 5u);
		EXPECT_FALSE(header.complete);
	}
}

TEST(SniffTest, TiffHostileOffsetsAndCounts) {
	Bytes far_ifd = MakeTiff(5, 3);
	SetLe32(far_ifd, 4, 0xFFFFFFFFu);
	EXPECT_NE(InvalidInputMessage(far_ifd).find("truncated"), std::string::npos);

	/* ImageWidth as an out-of-line array with a huge count */
	Bytes huge_count = MakeTiff(5, 3, {false, true, false});
	SetLe32(huge_count, 8 + 2 + 4, 0xFFFFFFFFu);
	EXPECT_NE(InvalidInputMessage(huge_count).find("TIFF header is corrupt"), std::string::npos);

	/* StripOffsets with a huge count: dimensions still read, but the data cannot be all there */
	Bytes huge_strips = MakeTiff(5, 3);
	SetLe32(huge_strips, 8 + 2 + 5 * 12 + 4, 0x40000000u);
	SetLe32(huge_strips, 8 + 2 + 7 * 12 + 4, 0x40000000u);
	ImageHeader header = ReadImageHeader(View(huge_strips));
	EXPECT_EQ(header.width, 5u);
	EXPECT_FALSE(header.complete);

	/* a directory claiming 65535 entries */
	Bytes many = MakeTiff(5, 3);
	many[8] = 0xFF;
	many[9] = 0xFF;
	ImageHeader many_header = ReadImageHeader(View(many));
	EXPECT_EQ(many_header.width, 5u);
	EXPECT_FALSE(many_header.complete);

	Bytes no_dims = {'I', 'I', 42, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0};
	EXPECT_NE(InvalidInputMessage(no_dims).find("ImageWidth"), std::string::npos);

	Bytes big = MakeBigTiff(10, 10);
	for (int i = 8; i < 16; i++) {
		big[i] = 0xFF;
	}
	EXPECT_NE(InvalidInputMessage(big).find("truncated"), std::string::npos);
}

TEST(SniffTest, WebPRiffSizeLargerThanDataIsIncomplete) {
	Bytes webp = MakeWebPLossy(300, 200);
	webp.pop_back();
	ImageHeader header = ReadImageHeader(View(webp));
	EXPECT_EQ(header.width, 300u);
	EXPECT_FALSE(header.complete);

	Bytes unknown_chunk = Riff("ALPH", {0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
	EXPECT_NE(InvalidInputMessage(unknown_chunk).find("WebP header is corrupt"), std::string::npos);
}

TEST(SniffTest, BmpExtremes) {
	Bytes bmp = MakeBmp(5, 3);
	bmp.resize(bmp.size() - 1);
	EXPECT_FALSE(ReadImageHeader(View(bmp)).complete);

	Bytes min_height = MakeBmp(1, 1);
	SetLe32(min_height, 22, 0x80000000u); /* INT32_MIN: top-down with 2^31 rows */
	ImageHeader header = ReadImageHeader(View(min_height));
	EXPECT_EQ(header.height, 0x80000000u);

	Bytes negative_width = MakeBmp(1, 1);
	SetLe32(negative_width, 18, 0xFFFFFFFEu);
	EXPECT_NE(InvalidInputMessage(negative_width).find("negative width"), std::string::npos);

	Bytes zero = MakeBmp(0, 1);
	EXPECT_EQ(InvalidInputMessage(zero), "image has zero width or height");
}

TEST(SniffTest, Jpeg2000Boxes) {
	/* jp2c box with an XLBox far past the end */
	Bytes jp2 = MakeJp2(12, 34);
	size_t jp2c = jp2.size() - MakeJ2kCodestream(12, 34).size() - 8;
	Bytes extended(jp2.begin(), jp2.begin() + static_cast<std::ptrdiff_t>(jp2c));
	PutBe32(extended, 1);
	PutText(extended, "jp2c");
	PutBe64(extended, 0xFFFFFFFFFFFFFFFFull);
	PutBytes(extended, MakeJ2kCodestream(12, 34));
	ImageHeader header = ReadImageHeader(View(extended));
	EXPECT_EQ(header.width, 12u);
	EXPECT_EQ(header.height, 34u);
	EXPECT_FALSE(header.complete);

	/* LBox 0: the codestream runs to the end of the file and must end with EOC */
	Bytes to_end(jp2.begin(), jp2.begin() + static_cast<std::ptrdiff_t>(jp2c));
	PutBe32(to_end, 0);
	PutText(to_end, "jp2c");
	PutBytes(to_end, MakeJ2kCodestream(12, 34));
	EXPECT_TRUE(ReadImageHeader(View(to_end)).complete);
	to_end.pop_back();
	EXPECT_FALSE(ReadImageHeader(View(to_end)).complete);

	Bytes codestream = MakeJ2kCodestream(5, 5);
	codestream.resize(codestream.size() - 2);
	EXPECT_FALSE(ReadImageHeader(View(codestream)).complete);

	Bytes no_ihdr = {0x00, 0x00, 0x00, 0x0C, 'j', 'P', ' ', ' ', 0x0D, 0x0A, 0x87, 0x0A};
	PutBytes(no_ihdr, Jp2Box("jp2h", Jp2Box("colr", {1, 0, 0, 0, 0, 0, 17})));
	EXPECT_NE(InvalidInputMessage(no_ihdr).find("ihdr"), std::string::npos);
}

TEST(SniffTest, EmptyInput) {
	EXPECT_EQ(InvalidInputMessage(ByteView{}), "image data is empty");
	uint8_t byte = 0;
	EXPECT_EQ(InvalidInputMessage(ByteView{&byte, 0}), "image data is empty");
}

TEST(SniffTest, HtmlDocuments) {
	for (const char *text : {"<!DOCTYPE html>\n<html><head><title>404</title></head></html>",
	                         "\xEF\xBB\xBF  \r\n<HTML lang=\"en\">", "<head><meta charset=utf-8>",
	                         "\n\n<body>Access denied</body>", "<!-- generated --><html></html>",
	                         "<?xml version=\"1.0\"?><!DOCTYPE html><html xmlns=\"http://www.w3.org/1999/xhtml\">"}) {
		Bytes bytes;
		PutText(bytes, text);
		SCOPED_TRACE(text);
		try {
			ReadImageHeader(View(bytes));
			ADD_FAILURE() << "no exception";
		} catch (const Error &e) {
			EXPECT_EQ(e.Kind(), ErrorKind::InvalidInput);
			EXPECT_EQ(std::string(e.what()), "data looks like an HTML document, not an image");
			EXPECT_NE(e.Hint().find("Supported formats are JPEG, PNG, TIFF, WebP, BMP and JPEG 2000."),
			          std::string::npos);
		}
	}
}

TEST(SniffTest, XmlAndSvgDocuments) {
	Bytes svg;
	PutText(svg, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\"/>");
	EXPECT_EQ(InvalidInputMessage(svg), "data looks like an XML/SVG document, not an image");
	Bytes bare_svg;
	PutText(bare_svg, "<svg width=\"10\" height=\"10\"></svg>");
	EXPECT_EQ(InvalidInputMessage(bare_svg), "data looks like an XML/SVG document, not an image");
	Bytes rss;
	PutText(rss, "<?xml version=\"1.0\"?><rss version=\"2.0\"></rss>");
	EXPECT_EQ(InvalidInputMessage(rss), "data looks like an XML document, not an image");
}

TEST(SniffTest, OtherDocuments) {
	Bytes pdf;
	PutText(pdf, "%PDF-1.7\n%\xE2\xE3\xCF\xD3\n1 0 obj");
	EXPECT_EQ(InvalidInputMessage(pdf), "data looks like a PDF document, not an image");
	Bytes json;
	PutText(json, "{\"error\": \"not found\"}");
	EXPECT_EQ(InvalidInputMessage(json), "data looks like a JSON document, not an image");
	Bytes zip = {'P', 'K', 3, 4, 20, 0, 0, 0};
	EXPECT_EQ(InvalidInputMessage(zip), "data looks like a ZIP archive, not an image");
}

TEST(SniffTest, UnsupportedImages) {
	Bytes gif;
	PutText(gif, "GIF89a");
	Put(gif, {10, 0, 10, 0, 0x80, 0, 0});
	EXPECT_EQ(InvalidInputMessage(gif), "GIF images are not supported");
	Bytes heic = {0, 0, 0, 0x18};
	PutText(heic, "ftypheic");
	Put(heic, {0, 0, 0, 0});
	EXPECT_EQ(InvalidInputMessage(heic), "HEIF images are not supported");
	Bytes avif = {0, 0, 0, 0x18};
	PutText(avif, "ftypavif");
	EXPECT_EQ(InvalidInputMessage(avif), "AVIF images are not supported");
}

TEST(SniffTest, UnrecognisedBytesShowHex) {
	Bytes bytes = {0x00, 0x01, 0x02, 0xAB, 0xCD, 0xEF, 0x10, 0x7F, 0x99, 0x98};
	EXPECT_EQ(InvalidInputMessage(bytes), "unrecognised image format (first bytes: 00 01 02 ab cd ef 10 7f ...)");
	Bytes short_bytes = {0x3c, 0x21, 0x44};
	EXPECT_EQ(InvalidInputMessage(short_bytes), "unrecognised image format (first bytes: 3c 21 44)");

	std::mt19937 rng(12345);
	for (int i = 0; i < 200; i++) {
		Bytes random(1 + rng() % 64);
		for (uint8_t &b : random) {
			b = static_cast<uint8_t>(rng());
		}
		random[0] = static_cast<uint8_t>(0x80 | (random[0] & 0x3F)); /* no magic starts this way */
		EXPECT_NE(InvalidInputMessage(random).find("unrecognised image format (first bytes: "), std::string::npos);
	}
}

TEST(SniffTest, EveryPrefixIsSafe) {
	for (const Sample &sample : AllSamples()) {
		SCOPED_TRACE(sample.name);
		for (size_t length = 0; length <= sample.bytes.size(); length++) {
			auto copy = CopyPrefix(sample.bytes, length);
			try {
				ImageHeader header = ReadImageHeader(ByteView{copy.get(), length});
				EXPECT_EQ(header.format, sample.format);
				EXPECT_EQ(header.width, sample.width);
				EXPECT_EQ(header.height, sample.height);
				if (length < sample.bytes.size()) {
					EXPECT_FALSE(header.complete) << "prefix " << length << " of " << sample.bytes.size();
				}
			} catch (const Error &e) {
				EXPECT_EQ(e.Kind(), ErrorKind::InvalidInput) << e.what();
			}
		}
	}
}

TEST(SniffTest, RandomMutationsAreSafe) {
	std::mt19937 rng(20240601);
	for (const Sample &sample : AllSamples()) {
		SCOPED_TRACE(sample.name);
		for (int round = 0; round < 3000; round++) {
			Bytes bytes = sample.bytes;
			int edits = 1 + static_cast<int>(rng() % 4);
			for (int e = 0; e < edits; e++) {
				size_t pos = rng() % bytes.size();
				switch (rng() % 4) {
				case 0:
					bytes[pos] = static_cast<uint8_t>(rng());
					break;
				case 1:
					bytes[pos] = 0xFF;
					break;
				case 2:
					bytes[pos] ^= static_cast<uint8_t>(1u << (rng() % 8));
					break;
				default:
					bytes.resize(pos + 1);
					break;
				}
			}
			auto copy = CopyPrefix(bytes, bytes.size());
			try {
				ReadImageHeader(ByteView{copy.get(), bytes.size()});
			} catch (const Error &e) {
				EXPECT_EQ(e.Kind(), ErrorKind::InvalidInput) << e.what();
			}
		}
	}
}

#ifdef EUROPEANA_SNIFF_TEST_OPENCV

/* Encodes a 67x45 noise image with OpenCV; empty when this build has no such encoder. */
Bytes
Encode(const std::string &extension, const std::vector<int> &params = {}) {
	if (!cv::haveImageWriter(extension)) {
		return {};
	}
	cv::Mat image(45, 67, CV_8UC3);
	cv::randu(image, cv::Scalar::all(0), cv::Scalar::all(255));
	std::vector<uchar> encoded;
	try {
		if (!cv::imencode(extension, image, encoded, params)) {
			return {};
		}
	} catch (const cv::Exception &) {
		return {};
	}
	return Bytes(encoded.begin(), encoded.end());
}

TEST(SniffOpenCvTest, RealEncoderOutput) {
	struct Case {
		std::string extension;
		std::vector<int> params;
		ImageFormat format;
		/* every shorter prefix must be incomplete (TIFF: only a cut into the strips is noticed) */
		bool strict_truncation;
	};
	const std::vector<Case> cases = {
	    {".jpg", {}, ImageFormat::Jpeg, true},
	    {".jpg", {cv::IMWRITE_JPEG_PROGRESSIVE, 1}, ImageFormat::Jpeg, true},
	    {".jpg", {cv::IMWRITE_JPEG_RST_INTERVAL, 1}, ImageFormat::Jpeg, true},
	    {".png", {}, ImageFormat::Png, true},
	    {".tiff", {}, ImageFormat::Tiff, false},
	    {".webp", {cv::IMWRITE_WEBP_QUALITY, 80}, ImageFormat::WebP, true},
	    {".webp", {cv::IMWRITE_WEBP_QUALITY, 101}, ImageFormat::WebP, true},
	    {".bmp", {}, ImageFormat::Bmp, true},
	    {".jp2", {}, ImageFormat::Jpeg2000, true},
	};
	for (const Case &c : cases) {
		SCOPED_TRACE(c.extension + (c.params.empty() ? "" : " " + std::to_string(c.params[0])));
		Bytes encoded = Encode(c.extension, c.params);
		if (encoded.empty()) {
			std::printf("OpenCV cannot write %s here; skipped\n", c.extension.c_str());
			continue;
		}
		EXPECT_EQ(SniffFormat(View(encoded)), c.format);
		ImageHeader header = ReadImageHeader(View(encoded));
		EXPECT_EQ(header.format, c.format);
		EXPECT_EQ(header.width, 67u);
		EXPECT_EQ(header.height, 45u);
		EXPECT_TRUE(header.complete);

		for (size_t length = 0; length < encoded.size(); length++) {
			auto copy = CopyPrefix(encoded, length);
			try {
				ImageHeader partial = ReadImageHeader(ByteView{copy.get(), length});
				EXPECT_EQ(partial.width, 67u);
				EXPECT_EQ(partial.height, 45u);
				if (c.strict_truncation) {
					EXPECT_FALSE(partial.complete) << "prefix " << length << " of " << encoded.size();
				}
			} catch (const Error &e) {
				EXPECT_EQ(e.Kind(), ErrorKind::InvalidInput) << e.what();
			}
		}
	}
}

#endif

} // namespace
} // namespace europeana::core
