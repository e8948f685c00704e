/*
 * blobs.cpp — builds the synthetic payloads described in blobs.hpp without any image library: PNGs use stored
 * (uncompressed) deflate blocks, so the bytes are fully deterministic and independent of zlib's version.
 *
 * Thread-safe: static-local initialisation only.
 */
#include "blobs.hpp"

#include <array>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <vector>

namespace europeana::fake {

namespace {

constexpr int kIconSide = 32;

uint32_t
Crc32(std::string_view data) {
	static const std::array<uint32_t, 256> kTable = [] {
		std::array<uint32_t, 256> table {};
		for (uint32_t n = 0; n < 256; n++) {
			uint32_t c = n;
			for (int k = 0; k < 8; k++) {
				c = (c & 1) ? 0xedb88320U ^ (c >> 1) : c >> 1;
			}
			table[n] = c;
		}
		return table;
	}();
	uint32_t crc = 0xffffffffU;
	for (unsigned char b : data) {
		crc = kTable[(crc ^ b) & 0xff] ^ (crc >> 8);
	}
	return crc ^ 0xffffffffU;
}

uint32_t
Adler32(std::string_view data) {
	uint32_t a = 1;
	uint32_t b = 0;
	for (unsigned char c : data) {
		a = (a + c) % 65521;
		b = (b + a) % 65521;
	}
	return (b << 16) | a;
}

void
PutBe32(std::string &out, uint32_t v) {
	out.push_back(char((v >> 24) & 0xff));
	out.push_back(char((v >> 16) & 0xff));
	out.push_back(char((v >> 8) & 0xff));
	out.push_back(char(v & 0xff));
}

void
PutLe16(std::string &out, uint16_t v) {
	out.push_back(char(v & 0xff));
	out.push_back(char((v >> 8) & 0xff));
}

void
PutLe32(std::string &out, uint32_t v) {
	PutLe16(out, uint16_t(v & 0xffff));
	PutLe16(out, uint16_t(v >> 16));
}

void
PutChunk(std::string &out, std::string_view type, std::string_view payload) {
	PutBe32(out, uint32_t(payload.size()));
	std::string typed(type);
	typed.append(payload);
	out.append(typed);
	PutBe32(out, Crc32(typed));
}

/* IconScanlines draws a framed glyph that differs per media type, so the five icons are distinguishable images. */
std::string
IconScanlines(int variant) {
	std::string raw;
	for (int y = 0; y < kIconSide; y++) {
		raw.push_back('\0'); /* filter type None */
		for (int x = 0; x < kIconSide; x++) {
			uint8_t v = 0xe8;
			bool border = x < 2 || y < 2 || x >= kIconSide - 2 || y >= kIconSide - 2;
			int dx = x - 16;
			int dy = y - 16;
			switch (variant) {
			case 0: /* IMAGE: a sun and a mountain */
				if ((x - 22) * (x - 22) + (y - 9) * (y - 9) < 10 || (y > 14 && y < 28 && std::abs(dx + 4) < y - 14)) {
					v = 0x70;
				}
				break;
			case 1: /* SOUND: a note */
				if ((dx + 3) * (dx + 3) + (dy - 6) * (dy - 6) < 12 || (x == 15 && y > 6 && y < 22)) {
					v = 0x70;
				}
				break;
			case 2: /* VIDEO: a play triangle */
				if (x > 10 && x < 24 && std::abs(dy) < (24 - x) / 2 + 1) {
					v = 0x70;
				}
				break;
			case 3: /* TEXT: lines */
				if (x > 7 && x < 25 && y > 7 && y < 25 && y % 4 == 0) {
					v = 0x70;
				}
				break;
			default: /* 3D: a cube outline */
				if ((std::abs(dx) == 7 && std::abs(dy) <= 7) || (std::abs(dy) == 7 && std::abs(dx) <= 7)) {
					v = 0x70;
				}
				break;
			}
			raw.push_back(char(border ? 0xa0 : v));
		}
	}
	return raw;
}

std::string
BuildIcon(int variant, size_t total_size) {
	std::string raw = IconScanlines(variant);
	std::string zlib;
	zlib.push_back(char(0x78));
	zlib.push_back(char(0x01));
	zlib.push_back(char(0x01)); /* final stored block */
	PutLe16(zlib, uint16_t(raw.size()));
	PutLe16(zlib, uint16_t(~raw.size() & 0xffff));
	zlib.append(raw);
	PutBe32(zlib, Adler32(raw));

	std::string ihdr;
	PutBe32(ihdr, kIconSide);
	PutBe32(ihdr, kIconSide);
	ihdr.push_back(char(8)); /* bit depth */
	ihdr.push_back(char(0)); /* greyscale */
	ihdr.push_back(char(0));
	ihdr.push_back(char(0));
	ihdr.push_back(char(0));

	std::string png("\x89PNG\r\n\x1a\n", 8);
	PutChunk(png, "IHDR", ihdr);
	PutChunk(png, "IDAT", zlib);
	size_t fixed = png.size() + 12 /* tEXt framing */ + 12 /* IEND */;
	std::string text("Comment");
	text.push_back('\0');
	std::string message = "Default thumbnail (no stored preview for this media). ";
	size_t payload = total_size - fixed;
	while (text.size() < payload) {
		text.push_back(message[(text.size() - 8) % message.size()]);
	}
	text.resize(payload);
	PutChunk(png, "tEXt", text);
	PutChunk(png, "IEND", "");
	return png;
}

} // namespace

const std::string &
PlaceholderPng(std::string_view type) {
	static const std::map<std::string, std::string, std::less<>> kIcons = {
	    {"IMAGE", BuildIcon(0, kImagePlaceholderBytes)},
	    {"SOUND", BuildIcon(1, 2484)},
	    {"VIDEO", BuildIcon(2, 1932)},
	    {"TEXT", BuildIcon(3, 2180)},
	    {"3D", BuildIcon(4, 3012)},
	};
	auto it = kIcons.find(type);
	return it == kIcons.end() ? kIcons.at("IMAGE") : it->second;
}

const std::string &
MinimalPdf() {
	static const std::string kPdf = [] {
		std::vector<std::string> objects = {
		    "<< /Type /Catalog /Pages 2 0 R >>",
		    "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		    "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Contents 4 0 R >>",
		};
		const std::string content = "BT /F1 12 Tf 20 100 Td (scan) Tj ET";
		objects.push_back("<< /Length " + std::to_string(content.size()) + " >>\nstream\n" + content + "\nendstream");
		std::string pdf = "%PDF-1.4\n";
		std::vector<size_t> offsets;
		for (size_t i = 0; i < objects.size(); i++) {
			offsets.push_back(pdf.size());
			pdf += std::to_string(i + 1) + " 0 obj\n" + objects[i] + "\nendobj\n";
		}
		size_t xref = pdf.size();
		pdf += "xref\n0 " + std::to_string(objects.size() + 1) + "\n0000000000 65535 f \n";
		for (size_t offset : offsets) {
			char line[32];
			std::snprintf(line, sizeof(line), "%010zu 00000 n \n", offset);
			pdf += line;
		}
		pdf += "trailer\n<< /Size " + std::to_string(objects.size() + 1) + " /Root 1 0 R >>\nstartxref\n" +
		       std::to_string(xref) + "\n%%EOF\n";
		return pdf;
	}();
	return kPdf;
}

std::string
TiffHeader(uint32_t width, uint32_t height) {
	struct Entry {
		uint16_t tag;
		uint16_t type; /* 3 SHORT, 4 LONG */
		uint32_t value;
	};
	constexpr uint32_t kIfdOffset = 8;
	constexpr uint16_t kEntries = 9;
	constexpr uint32_t kDataOffset = kIfdOffset + 2 + kEntries * 12 + 4;
	uint64_t strip_bytes = uint64_t(width) * height;
	/* Tags in ascending order, as TIFF requires: size, 8-bit samples, no compression, BlackIsZero, one strip. */
	const Entry entries[kEntries] = {
	    {256, 4, width},
	    {257, 4, height},
	    {258, 3, 8},
	    {259, 3, 1},
	    {262, 3, 1},
	    {273, 4, kDataOffset},
	    {277, 3, 1},
	    {278, 4, height},
	    {279, 4, uint32_t(strip_bytes > 0xffffffffULL ? 0xffffffffULL : strip_bytes)},
	};
	std::string out("II*\0", 4);
	PutLe32(out, kIfdOffset);
	PutLe16(out, kEntries);
	for (const Entry &e : entries) {
		PutLe16(out, e.tag);
		PutLe16(out, e.type);
		PutLe32(out, 1);
		if (e.type == 3) {
			PutLe16(out, uint16_t(e.value));
			PutLe16(out, 0);
		} else {
			PutLe32(out, e.value);
		}
	}
	PutLe32(out, 0); /* no next IFD */
	return out;
}

std::string
HtmlPage(std::string_view title, std::string_view text) {
	std::string html = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>";
	html.append(title).append("</title></head>\n<body><h1>").append(title).append("</h1>\n<p>");
	html.append(text).append("</p></body></html>\n");
	return html;
}

std::optional<ImageDimensions>
JpegDimensions(std::string_view data) {
	if (data.size() < 4 || uint8_t(data[0]) != 0xff || uint8_t(data[1]) != 0xd8) {
		return std::nullopt;
	}
	size_t pos = 2;
	while (pos + 4 <= data.size()) {
		if (uint8_t(data[pos]) != 0xff) {
			return std::nullopt;
		}
		uint8_t marker = uint8_t(data[pos + 1]);
		if (marker == 0xff) {
			pos++;
			continue;
		}
		if (marker == 0xd8 || (marker >= 0xd0 && marker <= 0xd7) || marker == 0x01) {
			pos += 2;
			continue;
		}
		size_t length = (size_t(uint8_t(data[pos + 2])) << 8) | uint8_t(data[pos + 3]);
		bool is_sof = marker >= 0xc0 && marker <= 0xcf && marker != 0xc4 && marker != 0xc8 && marker != 0xcc;
		if (is_sof && pos + 9 <= data.size()) {
			ImageDimensions dims;
			dims.height = (int(uint8_t(data[pos + 5])) << 8) | uint8_t(data[pos + 6]);
			dims.width = (int(uint8_t(data[pos + 7])) << 8) | uint8_t(data[pos + 8]);
			return dims;
		}
		if (marker == 0xd9 || marker == 0xda || length < 2) {
			return std::nullopt;
		}
		pos += 2 + length;
	}
	return std::nullopt;
}

} // namespace europeana::fake
