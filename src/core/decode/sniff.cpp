/*
 * sniff.cpp — magic-byte detection and header-only dimension parsing for the supported formats.
 *
 * Every parser works on a ByteView and checks each read with HasBytes() first; offsets and
 * declared lengths are held in uint64_t and compared as "length <= size - offset" so that
 * a hostile length field can never overflow an addition.  Nothing here allocates except the
 * strings of an Error.
 */
#include "core/decode/sniff.hpp"

#include "core/common/error.hpp"

#include <cstdio>
#include <cstring>
#include <string>

namespace europeana::core {

namespace {

constexpr const char kSupportedFormats[] = "Supported formats are JPEG, PNG, TIFF, WebP, BMP and JPEG 2000.";
constexpr const char kTruncatedHint[] = "The image data is incomplete; store the complete file as bytea.";

/* How far into a text document we look for a telling tag ("<svg", "<html"). */
constexpr size_t kDocumentScanLimit = 64 * 1024;

constexpr uint8_t kPngSignature[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
constexpr uint8_t kJp2Signature[12] = {0x00, 0x00, 0x00, 0x0C, 'j', 'P', ' ', ' ', 0x0D, 0x0A, 0x87, 0x0A};

[[noreturn]] void
Fail(const std::string &message, const std::string &hint) {
	throw Error(ErrorKind::InvalidInput, message, hint);
}

/* True when [offset, offset + count) lies inside the data; safe for any 64-bit values. */
bool
HasBytes(ByteView bytes, uint64_t offset, uint64_t count) noexcept {
	return offset <= bytes.size && count <= bytes.size - offset;
}

bool
MatchAt(ByteView bytes, uint64_t offset, const void *literal, size_t length) noexcept {
	return HasBytes(bytes, offset, length) && std::memcmp(bytes.data + offset, literal, length) == 0;
}

uint16_t
Be16(const uint8_t *p) noexcept {
	return static_cast<uint16_t>((p[0] << 8) | p[1]);
}

uint32_t
Be32(const uint8_t *p) noexcept {
	return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

uint64_t
Be64(const uint8_t *p) noexcept {
	return (uint64_t{Be32(p)} << 32) | Be32(p + 4);
}

uint16_t
Le16(const uint8_t *p) noexcept {
	return static_cast<uint16_t>(p[0] | (p[1] << 8));
}

uint32_t
Le24(const uint8_t *p) noexcept {
	return uint32_t{p[0]} | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16);
}

uint32_t
Le32(const uint8_t *p) noexcept {
	return Le24(p) | (uint32_t{p[3]} << 24);
}

uint64_t
Le64(const uint8_t *p) noexcept {
	return uint64_t{Le32(p)} | (uint64_t{Le32(p + 4)} << 32);
}

const char *
DisplayName(ImageFormat format) noexcept {
	switch (format) {
	case ImageFormat::Jpeg:
		return "JPEG";
	case ImageFormat::Png:
		return "PNG";
	case ImageFormat::Tiff:
		return "TIFF";
	case ImageFormat::WebP:
		return "WebP";
	case ImageFormat::Bmp:
		return "BMP";
	case ImageFormat::Jpeg2000:
		return "JPEG 2000";
	case ImageFormat::Gif:
		return "GIF";
	case ImageFormat::Unknown:
		break;
	}
	return "image";
}

[[noreturn]] void
FailTruncated(ImageFormat format, ByteView bytes) {
	Fail(std::string(DisplayName(format)) + " header is truncated before the image dimensions (" +
	         std::to_string(bytes.size) + " bytes of data)",
	     kTruncatedHint);
}

[[noreturn]] void
FailCorrupt(ImageFormat format, const std::string &what) {
	Fail(std::string(DisplayName(format)) + " header is corrupt: " + what,
	     "The file is damaged or is not really a " + std::string(DisplayName(format)) + " image.");
}

/* Applies the rule shared by every format: a picture with no pixels is refused. */
ImageHeader
Finish(ImageFormat format, uint64_t width, uint64_t height, bool complete) {
	if (width == 0 || height == 0) {
		Fail("image has zero width or height",
		     "The " + std::string(DisplayName(format)) +
		         " header declares an empty picture; the file is probably corrupt.");
	}
	if (width > UINT32_MAX || height > UINT32_MAX) {
		FailCorrupt(format, "dimensions " + std::to_string(width) + "x" + std::to_string(height) +
		                        " are out of range");
	}
	ImageHeader header;
	header.format = format;
	header.width = static_cast<uint32_t>(width);
	header.height = static_cast<uint32_t>(height);
	header.complete = complete;
	return header;
}

/* ---------------------------------------------------------------- JPEG */

bool
IsJpegStandaloneMarker(uint8_t marker) noexcept {
	/* TEM, RSTn, SOI and EOI carry no length field. */
	return marker == 0x01 || (marker >= 0xD0 && marker <= 0xD9);
}

bool
IsJpegStartOfFrame(uint8_t marker) noexcept {
	return marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
}

/*
 * Finds the next marker at or after pos the way a decoder does: skips any bytes that are
 * not 0xFF, then fill bytes (repeated 0xFF), and returns the marker code with pos just past
 * it.  Returns false when the data ends first.
 */
bool
NextJpegMarker(ByteView bytes, size_t *pos, uint8_t *marker) noexcept {
	size_t p = *pos;
	for (;;) {
		if (p >= bytes.size) {
			return false;
		}
		const void *ff = std::memchr(bytes.data + p, 0xFF, bytes.size - p);
		if (ff == nullptr) {
			return false;
		}
		p = static_cast<size_t>(static_cast<const uint8_t *>(ff) - bytes.data) + 1;
		while (p < bytes.size && bytes.data[p] == 0xFF) {
			p++;
		}
		if (p >= bytes.size) {
			return false;
		}
		uint8_t code = bytes.data[p++];
		if (code != 0x00) {
			*marker = code;
			*pos = p;
			return true;
		}
		/* FF 00 is not a marker (byte stuffing, or stray data): keep looking. */
	}
}

/*
 * Decides whether an EOI follows the first scan.  pos is at the length field of the first
 * SOS segment.  Each segment is skipped by its length (so an EOI inside a DHT or COM payload
 * is not mistaken for the end); after it the entropy-coded data is searched for the next
 * marker, where FF 00 (stuffing) and FF D0..D7 (restarts) do not count.  Later SOS, DHT and
 * other segments of a progressive image are skipped the same way until EOI or the end.
 */
bool
JpegHasEoiAfterScan(ByteView bytes, size_t pos) noexcept {
	for (;;) {
		if (!HasBytes(bytes, pos, 2)) {
			return false;
		}
		size_t length = Be16(bytes.data + pos);
		if (length < 2 || length > bytes.size - pos) {
			return false;
		}
		pos += length;
		uint8_t marker = 0;
		do {
			if (!NextJpegMarker(bytes, &pos, &marker)) {
				return false;
			}
			if (marker == 0xD9) {
				return true;
			}
		} while (IsJpegStandaloneMarker(marker));
	}
}

/* The orientation tag (0x0112) of an APP1 "Exif" payload, or 1; never reads past it. */
uint8_t
ExifOrientation(const uint8_t *p, size_t n) noexcept {
	if (n < 14 || std::memcmp(p, "Exif\0\0", 6) != 0) {
		return 1;
	}
	const uint8_t *tiff = p + 6;
	const size_t size = n - 6;
	const bool little = tiff[0] == 'I' && tiff[1] == 'I';
	if (!little && !(tiff[0] == 'M' && tiff[1] == 'M')) {
		return 1;
	}
	const auto u16 = [&](size_t at) -> uint32_t {
		return little ? tiff[at] | (tiff[at + 1] << 8) : (tiff[at] << 8) | tiff[at + 1];
	};
	const auto u32 = [&](size_t at) -> uint32_t {
		return little ? u16(at) | (u16(at + 2) << 16) : (u16(at) << 16) | u16(at + 2);
	};
	const uint32_t ifd = u32(4);
	if (ifd > size || size - ifd < 2) {
		return 1;
	}
	const uint32_t entries = u16(ifd);
	for (uint32_t e = 0; e < entries; e++) {
		const size_t at = ifd + 2 + static_cast<size_t>(e) * 12;
		if (at + 12 > size) {
			break;
		}
		if (u16(at) == 0x0112) {
			const uint32_t v = u16(at + 8);
			return v >= 1 && v <= 8 ? static_cast<uint8_t>(v) : 1;
		}
	}
	return 1;
}

/*
 * Walks the marker segments from SOI: APPn, COM, DQT, DHT and the rest are skipped by their
 * big-endian length (so an EXIF thumbnail inside APP1 is never parsed), the first SOFn gives
 * the dimensions, and the first SOS hands over to JpegHasEoiAfterScan.  Running out of data
 * before the SOF is an error; running out after it only makes the image incomplete.
 */
ImageHeader
ReadJpeg(ByteView bytes) {
	const ImageFormat format = ImageFormat::Jpeg;
	bool have_frame = false;
	uint32_t width = 0;
	uint32_t height = 0;
	uint8_t frame = 0, components = 0, orientation = 1;
	size_t pos = 2;
	const auto finish = [&](bool complete) {
		ImageHeader h = Finish(format, width, height, complete);
		h.jpeg_frame = frame;
		h.components = components;
		h.orientation = orientation;
		return h;
	};
	for (;;) {
		uint8_t marker = 0;
		if (!NextJpegMarker(bytes, &pos, &marker)) {
			break;
		}
		if (IsJpegStandaloneMarker(marker)) {
			if (marker == 0xD9) {
				if (!have_frame) {
					FailCorrupt(format, "the data ends (EOI) before any frame header");
				}
				break;
			}
			continue;
		}
		if (!HasBytes(bytes, pos, 2)) {
			break;
		}
		size_t length = Be16(bytes.data + pos);
		if (length < 2) {
			if (!have_frame) {
				FailCorrupt(format, "a marker segment has an invalid length");
			}
			break;
		}
		if (IsJpegStartOfFrame(marker) && !have_frame) {
			/* length(2) precision(1) lines(2) samples per line(2) components(1) */
			if (!HasBytes(bytes, pos, 7)) {
				break;
			}
			if (length < 8) {
				FailCorrupt(format, "the frame header is too short");
			}
			height = Be16(bytes.data + pos + 3);
			width = Be16(bytes.data + pos + 5);
			frame = marker;
			components = HasBytes(bytes, pos, 8) ? bytes.data[pos + 7] : 0;
			have_frame = true;
		}
		if (marker == 0xE1 && length > 2 && length <= bytes.size - pos) {
			const uint8_t o = ExifOrientation(bytes.data + pos + 2, length - 2); /* (an XMP APP1 says nothing) */
			if (o != 1) {
				orientation = o;
			}
		}
		if (marker == 0xDA) {
			if (!have_frame) {
				FailCorrupt(format, "scan data starts before any frame header");
			}
			return finish(JpegHasEoiAfterScan(bytes, pos));
		}
		if (length > bytes.size - pos) {
			break;
		}
		pos += length;
	}
	if (!have_frame) {
		FailTruncated(format, bytes);
	}
	return finish(false);
}

/* ---------------------------------------------------------------- PNG */

/*
 * IHDR must be the first chunk: width and height are 4-byte big-endian values right after
 * its type.  The chunk list is then walked by length to find IEND; a PNG cut off in the
 * middle of IDAT has none, and only a whole IEND chunk (with its CRC) counts.
 */
ImageHeader
ReadPng(ByteView bytes) {
	const ImageFormat format = ImageFormat::Png;
	/* signature(8) length(4) type(4) width(4) height(4) */
	if (!HasBytes(bytes, 8, 16)) {
		FailTruncated(format, bytes);
	}
	if (!MatchAt(bytes, 12, "IHDR", 4)) {
		FailCorrupt(format, "the first chunk is not IHDR");
	}
	uint32_t width = Be32(bytes.data + 16);
	uint32_t height = Be32(bytes.data + 20);
	if (width > 0x7FFFFFFFu || height > 0x7FFFFFFFu) {
		FailCorrupt(format, "dimensions exceed 2^31-1");
	}
	bool complete = false;
	uint64_t pos = 8;
	while (HasBytes(bytes, pos, 8)) {
		uint32_t length = Be32(bytes.data + pos);
		if (std::memcmp(bytes.data + pos + 4, "IEND", 4) == 0) {
			complete = HasBytes(bytes, pos, 12); /* the whole (empty) chunk with its CRC */
			break;
		}
		/* length(4) type(4) data(length) crc(4) */
		if (length > 0x7FFFFFFFu || !HasBytes(bytes, pos, uint64_t{length} + 12)) {
			break;
		}
		pos += uint64_t{length} + 12;
	}
	return Finish(format, width, height, complete);
}

/* ---------------------------------------------------------------- TIFF */

struct TiffEntry {
	bool present = false;
	uint16_t type = 0;
	uint64_t count = 0;
	uint64_t value_pos = 0; /* offset of the entry's value/offset field */
};

struct TiffLayout {
	ByteView bytes;
	bool big_endian = false;
	bool big_tiff = false;

	size_t
	ValueFieldSize() const noexcept {
		return big_tiff ? 8 : 4;
	}
	uint16_t
	U16(uint64_t pos) const noexcept {
		return big_endian ? Be16(bytes.data + pos) : Le16(bytes.data + pos);
	}
	uint32_t
	U32(uint64_t pos) const noexcept {
		return big_endian ? Be32(bytes.data + pos) : Le32(bytes.data + pos);
	}
	uint64_t
	U64(uint64_t pos) const noexcept {
		return big_endian ? Be64(bytes.data + pos) : Le64(bytes.data + pos);
	}
};

size_t
TiffTypeSize(uint16_t type) noexcept {
	switch (type) {
	case 3: /* SHORT */
		return 2;
	case 4: /* LONG */
		return 4;
	case 16: /* LONG8 (BigTIFF) */
		return 8;
	default:
		return 0;
	}
}

/*
 * Reads element index of an unsigned integer entry, inline or through its offset.  Returns
 * false for an unsupported type or when the value array does not lie wholly inside the data.
 */
bool
TiffElement(const TiffLayout &tiff, const TiffEntry &entry, uint64_t index, uint64_t *value) noexcept {
	size_t size = TiffTypeSize(entry.type);
	if (!entry.present || size == 0 || index >= entry.count) {
		return false;
	}
	uint64_t base = entry.value_pos;
	if (entry.count > tiff.ValueFieldSize() / size) {
		base = tiff.big_tiff ? tiff.U64(entry.value_pos) : tiff.U32(entry.value_pos);
		if (base > tiff.bytes.size || entry.count > (tiff.bytes.size - base) / size) {
			return false;
		}
	}
	uint64_t pos = base + index * size;
	*value = size == 2 ? tiff.U16(pos) : size == 4 ? tiff.U32(pos) : tiff.U64(pos);
	return true;
}

/* True when every strip (or tile) named by the offset/byte-count pair ends inside the data. */
bool
TiffDataFits(const TiffLayout &tiff, const TiffEntry &offsets, const TiffEntry &counts) noexcept {
	if (!offsets.present || !counts.present || offsets.count != counts.count) {
		return true; /* nothing we can check */
	}
	for (uint64_t i = 0; i < offsets.count; i++) {
		uint64_t offset = 0;
		uint64_t count = 0;
		if (!TiffElement(tiff, offsets, i, &offset) || !TiffElement(tiff, counts, i, &count)) {
			return false;
		}
		if (!HasBytes(tiff.bytes, offset, count)) {
			return false;
		}
	}
	return true;
}

/*
 * Parses the header and the first image file directory: tags 256 (ImageWidth) and 257
 * (ImageLength) give the dimensions; StripOffsets/StripByteCounts (273/279) or
 * TileOffsets/TileByteCounts (324/325) tell whether the pixel data is all present.
 * Classic TIFF has 12-byte entries with a 4-byte value field, BigTIFF 20-byte entries
 * with an 8-byte one.
 */
ImageHeader
ReadTiff(ByteView bytes) {
	const ImageFormat format = ImageFormat::Tiff;
	TiffLayout tiff;
	tiff.bytes = bytes;
	if (!HasBytes(bytes, 0, 8)) {
		FailTruncated(format, bytes);
	}
	tiff.big_endian = bytes.data[0] == 'M';
	tiff.big_tiff = tiff.U16(2) == 43;
	uint64_t ifd = 0;
	uint64_t entry_count = 0;
	uint64_t entries = 0;
	uint64_t entry_size = 12;
	uint64_t value_offset = 8; /* of the value field within an entry */
	if (tiff.big_tiff) {
		if (!HasBytes(bytes, 0, 16)) {
			FailTruncated(format, bytes);
		}
		if (tiff.U16(4) != 8 || tiff.U16(6) != 0) {
			FailCorrupt(format, "unsupported BigTIFF offset size");
		}
		ifd = tiff.U64(8);
		if (!HasBytes(bytes, ifd, 8)) {
			FailTruncated(format, bytes);
		}
		entry_count = tiff.U64(ifd);
		entries = ifd + 8;
		entry_size = 20;
		value_offset = 12;
	} else {
		ifd = tiff.U32(4);
		if (!HasBytes(bytes, ifd, 2)) {
			FailTruncated(format, bytes);
		}
		entry_count = tiff.U16(ifd);
		entries = ifd + 2;
	}

	TiffEntry width;
	TiffEntry height;
	TiffEntry strip_offsets;
	TiffEntry strip_counts;
	TiffEntry tile_offsets;
	TiffEntry tile_counts;
	bool directory_complete = true;
	for (uint64_t i = 0; i < entry_count; i++) {
		/* entries <= size here and i * entry_size stays below size + entry_size: no overflow */
		uint64_t pos = entries + i * entry_size;
		if (!HasBytes(bytes, pos, entry_size)) {
			directory_complete = false;
			break;
		}
		TiffEntry entry;
		entry.present = true;
		entry.type = tiff.U16(pos + 2);
		entry.count = tiff.big_tiff ? tiff.U64(pos + 4) : tiff.U32(pos + 4);
		entry.value_pos = pos + value_offset;
		switch (tiff.U16(pos)) {
		case 256:
			width = entry;
			break;
		case 257:
			height = entry;
			break;
		case 273:
			strip_offsets = entry;
			break;
		case 279:
			strip_counts = entry;
			break;
		case 324:
			tile_offsets = entry;
			break;
		case 325:
			tile_counts = entry;
			break;
		default:
			break;
		}
	}
	if (!width.present || !height.present) {
		if (!directory_complete) {
			FailTruncated(format, bytes);
		}
		FailCorrupt(format, "the first image directory has no ImageWidth/ImageLength tag");
	}
	uint64_t w = 0;
	uint64_t h = 0;
	if (!TiffElement(tiff, width, 0, &w) || !TiffElement(tiff, height, 0, &h)) {
		FailCorrupt(format, "ImageWidth/ImageLength has an unsupported type or lies outside the data");
	}
	bool complete = directory_complete && TiffDataFits(tiff, strip_offsets, strip_counts) &&
	                TiffDataFits(tiff, tile_offsets, tile_counts);
	return Finish(format, w, h, complete);
}

/* ---------------------------------------------------------------- WebP */

/*
 * RIFF header, then the first chunk decides the flavour: "VP8 " (lossy: 14-bit width and
 * height after the start code 9d 01 2a), "VP8L" (lossless: 14-bit width-1 and height-1
 * after the signature byte 0x2f) or "VP8X" (extended: 24-bit canvas width-1 and height-1).
 */
ImageHeader
ReadWebP(ByteView bytes) {
	const ImageFormat format = ImageFormat::WebP;
	if (!HasBytes(bytes, 0, 20)) {
		FailTruncated(format, bytes);
	}
	const uint8_t *chunk = bytes.data + 12;
	const uint8_t *data = chunk + 8;
	uint32_t riff_size = Le32(bytes.data + 4);
	uint32_t chunk_size = Le32(chunk + 4);
	bool complete = HasBytes(bytes, 8, riff_size) && HasBytes(bytes, 20, chunk_size);
	uint64_t width = 0;
	uint64_t height = 0;
	if (std::memcmp(chunk, "VP8 ", 4) == 0) {
		/* frame tag(3) start code(3) width(2) height(2), the top two bits are scaling */
		if (!HasBytes(bytes, 20, 10)) {
			FailTruncated(format, bytes);
		}
		if (data[3] != 0x9D || data[4] != 0x01 || data[5] != 0x2A) {
			FailCorrupt(format, "missing VP8 start code");
		}
		width = Le16(data + 6) & 0x3FFF;
		height = Le16(data + 8) & 0x3FFF;
	} else if (std::memcmp(chunk, "VP8L", 4) == 0) {
		if (!HasBytes(bytes, 20, 5)) {
			FailTruncated(format, bytes);
		}
		if (data[0] != 0x2F) {
			FailCorrupt(format, "missing VP8L signature");
		}
		uint32_t bits = Le32(data + 1);
		width = (bits & 0x3FFF) + 1;
		height = ((bits >> 14) & 0x3FFF) + 1;
	} else if (std::memcmp(chunk, "VP8X", 4) == 0) {
		/* flags(1) reserved(3) canvas width-1(3) canvas height-1(3) */
		if (!HasBytes(bytes, 20, 10)) {
			FailTruncated(format, bytes);
		}
		width = uint64_t{Le24(data + 4)} + 1;
		height = uint64_t{Le24(data + 7)} + 1;
	} else {
		FailCorrupt(format, "unknown first chunk (expected VP8, VP8L or VP8X)");
	}
	return Finish(format, width, height, complete);
}

/* ---------------------------------------------------------------- BMP */

/* A DIB header size that some Windows or OS/2 version actually writes. */
bool
IsBmpDibHeaderSize(uint32_t size) noexcept {
	return size == 12 || (size >= 16 && size <= 64) || size == 108 || size == 124;
}

/*
 * 14-byte file header ("BM", file size, reserved, pixel offset), then the DIB header:
 * BITMAPCOREHEADER (size 12) has 16-bit unsigned dimensions, every later variant 32-bit
 * signed ones, where a negative height means rows are stored top-down.
 */
ImageHeader
ReadBmp(ByteView bytes) {
	const ImageFormat format = ImageFormat::Bmp;
	if (!HasBytes(bytes, 0, 18)) {
		FailTruncated(format, bytes);
	}
	uint32_t dib_size = Le32(bytes.data + 14);
	if (!IsBmpDibHeaderSize(dib_size)) {
		FailCorrupt(format, "unknown DIB header size " + std::to_string(dib_size));
	}
	uint64_t width = 0;
	uint64_t height = 0;
	if (dib_size == 12) {
		if (!HasBytes(bytes, 18, 4)) {
			FailTruncated(format, bytes);
		}
		width = Le16(bytes.data + 18);
		height = Le16(bytes.data + 20);
	} else {
		if (!HasBytes(bytes, 18, 8)) {
			FailTruncated(format, bytes);
		}
		int64_t signed_width = static_cast<int32_t>(Le32(bytes.data + 18));
		int64_t signed_height = static_cast<int32_t>(Le32(bytes.data + 22));
		if (signed_width < 0) {
			FailCorrupt(format, "negative width");
		}
		width = static_cast<uint64_t>(signed_width);
		height = static_cast<uint64_t>(signed_height < 0 ? -signed_height : signed_height);
	}
	uint32_t file_size = Le32(bytes.data + 2);
	uint32_t pixel_offset = HasBytes(bytes, 10, 4) ? Le32(bytes.data + 10) : 0;
	/* Some writers leave the file size 0; only a declared size larger than the data counts. */
	bool complete = file_size <= bytes.size && pixel_offset <= bytes.size;
	return Finish(format, width, height, complete);
}

/* ---------------------------------------------------------------- JPEG 2000 */

struct Jp2Box {
	uint32_t type = 0;
	uint64_t content = 0;   /* offset of the box contents */
	uint64_t end = 0;       /* end of the box, clamped to the limit */
	bool truncated = false; /* the declared length runs past the limit */
	bool to_end = false;    /* LBox 0: the box extends to the end of the file */
};

constexpr uint32_t
FourCc(const char (&code)[5]) noexcept {
	return (uint32_t{static_cast<uint8_t>(code[0])} << 24) | (uint32_t{static_cast<uint8_t>(code[1])} << 16) |
	       (uint32_t{static_cast<uint8_t>(code[2])} << 8) | uint32_t{static_cast<uint8_t>(code[3])};
}

/*
 * Reads the box header at pos (pos <= limit <= size): LBox (4, big-endian), TBox (4), and
 * XLBox (8) when LBox is 1; LBox 0 means "to the end".  Returns false when the header does
 * not fit or declares an impossible length.
 */
bool
ReadJp2Box(ByteView bytes, uint64_t pos, uint64_t limit, Jp2Box *box) noexcept {
	if (limit - pos < 8) {
		return false;
	}
	uint32_t lbox = Be32(bytes.data + pos);
	box->type = Be32(bytes.data + pos + 4);
	uint64_t header_size = 8;
	uint64_t length = lbox;
	box->to_end = lbox == 0;
	if (lbox == 1) {
		if (limit - pos < 16) {
			return false;
		}
		length = Be64(bytes.data + pos + 8);
		header_size = 16;
	} else if (lbox == 0) {
		length = limit - pos;
	}
	if (length < header_size) {
		return false;
	}
	box->content = pos + header_size;
	box->truncated = length > limit - pos;
	box->end = box->truncated ? limit : pos + length;
	return true;
}

/* A codestream is whole when it ends with the EOC marker (FF D9). */
bool
EndsWithEoc(ByteView bytes, uint64_t end) noexcept {
	return end >= 2 && end <= bytes.size && bytes.data[end - 2] == 0xFF && bytes.data[end - 1] == 0xD9;
}

/* Raw codestream: SOC (FF 4F), then SIZ (FF 51) with Lsiz, Rsiz, Xsiz, Ysiz, XOsiz, YOsiz. */
ImageHeader
ReadJ2kCodestream(ByteView bytes) {
	const ImageFormat format = ImageFormat::Jpeg2000;
	if (!HasBytes(bytes, 0, 24)) {
		FailTruncated(format, bytes);
	}
	uint32_t xsiz = Be32(bytes.data + 8);
	uint32_t ysiz = Be32(bytes.data + 12);
	uint32_t xosiz = Be32(bytes.data + 16);
	uint32_t yosiz = Be32(bytes.data + 20);
	uint64_t width = xsiz > xosiz ? xsiz - xosiz : 0;
	uint64_t height = ysiz > yosiz ? ysiz - yosiz : 0;
	return Finish(format, width, height, EndsWithEoc(bytes, bytes.size));
}

/*
 * JP2 file: walks the top-level boxes after the signature; the 'ihdr' box inside the
 * 'jp2h' superbox holds HEIGHT then WIDTH (4 bytes each, big-endian), and the 'jp2c' box
 * holds the codestream, which must fit in the data (or end with EOC when its length is
 * "to the end of the file").
 */
ImageHeader
ReadJp2(ByteView bytes) {
	const ImageFormat format = ImageFormat::Jpeg2000;
	if (MatchAt(bytes, 0, "\xFF\x4F\xFF\x51", 4)) {
		return ReadJ2kCodestream(bytes);
	}
	bool have_header = false;
	bool structure_truncated = false;
	bool codestream_complete = false;
	uint64_t width = 0;
	uint64_t height = 0;
	uint64_t pos = 0;
	while (pos < bytes.size) {
		Jp2Box box;
		if (!ReadJp2Box(bytes, pos, bytes.size, &box)) {
			structure_truncated = true;
			break;
		}
		if (box.truncated) {
			structure_truncated = true;
		}
		if (box.type == FourCc("jp2h") && !have_header) {
			uint64_t child_pos = box.content;
			while (child_pos < box.end) {
				Jp2Box child;
				if (!ReadJp2Box(bytes, child_pos, box.end, &child)) {
					break;
				}
				if (child.type == FourCc("ihdr")) {
					if (child.truncated || child.end - child.content < 8) {
						break;
					}
					height = Be32(bytes.data + child.content);
					width = Be32(bytes.data + child.content + 4);
					have_header = true;
					break;
				}
				child_pos = child.end;
			}
		} else if (box.type == FourCc("jp2c")) {
			codestream_complete = !box.truncated && (!box.to_end || EndsWithEoc(bytes, box.end));
		}
		pos = box.end;
	}
	if (!have_header) {
		if (structure_truncated) {
			FailTruncated(format, bytes);
		}
		FailCorrupt(format, "no image header (ihdr) box");
	}
	return Finish(format, width, height, codestream_complete && !structure_truncated);
}

/* ---------------------------------------------------------------- not an image */

bool
IsSpace(uint8_t c) noexcept {
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f';
}

uint8_t
Lower(uint8_t c) noexcept {
	return (c >= 'A' && c <= 'Z') ? static_cast<uint8_t>(c - 'A' + 'a') : c;
}

/* Case-insensitive prefix test; needle is lower case. */
bool
StartsWithNoCase(const uint8_t *data, size_t size, const char *needle) noexcept {
	size_t length = std::strlen(needle);
	if (length > size) {
		return false;
	}
	for (size_t i = 0; i < length; i++) {
		if (Lower(data[i]) != static_cast<uint8_t>(needle[i])) {
			return false;
		}
	}
	return true;
}

/* Case-insensitive search of the first kDocumentScanLimit bytes; needle is lower case. */
bool
ContainsNoCase(const uint8_t *data, size_t size, const char *needle) noexcept {
	if (size > kDocumentScanLimit) {
		size = kDocumentScanLimit;
	}
	for (size_t i = 0; i < size; i++) {
		if (data[i] == needle[0] && StartsWithNoCase(data + i, size - i, needle)) {
			return true;
		}
	}
	return false;
}

/*
 * Names a well-known kind of non-image data ("an HTML document", "a PDF document", ...), or
 * returns nullptr.  Text documents may start with a UTF-8 byte order mark and whitespace.
 */
const char *
DescribeNonImage(ByteView bytes) noexcept {
	if (MatchAt(bytes, 0, "%PDF-", 5)) {
		return "a PDF document";
	}
	if (MatchAt(bytes, 0, "PK\x03\x04", 4)) {
		return "a ZIP archive";
	}
	if (MatchAt(bytes, 0, "\x1F\x8B", 2)) {
		return "a gzip-compressed file";
	}
	if (MatchAt(bytes, 4, "ftyp", 4)) {
		return "an MP4/QuickTime video";
	}
	size_t pos = MatchAt(bytes, 0, "\xEF\xBB\xBF", 3) ? 3 : 0;
	while (pos < bytes.size && IsSpace(bytes.data[pos])) {
		pos++;
	}
	const uint8_t *text = bytes.data + pos;
	size_t size = bytes.size - pos;
	if (size == 0) {
		return nullptr;
	}
	if (text[0] == '{') {
		size_t next = 1;
		while (next < size && IsSpace(text[next])) {
			next++;
		}
		if (next < size && (text[next] == '"' || text[next] == '}')) {
			return "a JSON document";
		}
		return nullptr;
	}
	if (text[0] != '<') {
		return nullptr;
	}
	for (const char *tag : {"<!doctype html", "<html", "<head", "<body"}) {
		if (StartsWithNoCase(text, size, tag)) {
			return "an HTML document";
		}
	}
	if (ContainsNoCase(text, size, "<svg")) {
		return "an XML/SVG document";
	}
	if (ContainsNoCase(text, size, "<html")) {
		return "an HTML document";
	}
	if (StartsWithNoCase(text, size, "<?xml")) {
		return "an XML document";
	}
	return nullptr;
}

/* HEIF and AVIF are ISO media files whose 'ftyp' box names an image brand. */
const char *
DescribeUnsupportedImage(ByteView bytes) noexcept {
	if (!MatchAt(bytes, 4, "ftyp", 4) || !HasBytes(bytes, 8, 4)) {
		return nullptr;
	}
	for (const char *brand : {"avif", "avis"}) {
		if (MatchAt(bytes, 8, brand, 4)) {
			return "AVIF";
		}
	}
	for (const char *brand : {"heic", "heix", "hevc", "hevx", "heim", "heis", "hevm", "hevs", "mif1", "msf1"}) {
		if (MatchAt(bytes, 8, brand, 4)) {
			return "HEIF";
		}
	}
	return nullptr;
}

[[noreturn]] void
FailUnrecognised(ByteView bytes) {
	if (const char *image = DescribeUnsupportedImage(bytes)) {
		Fail(std::string(image) + " images are not supported",
		     "Convert the image to JPEG or PNG first. " + std::string(kSupportedFormats));
	}
	if (const char *what = DescribeNonImage(bytes)) {
		std::string hint = kSupportedFormats;
		if (std::strcmp(what, "an HTML document") == 0) {
			hint = "The source probably served a web page (an error, login or landing page) instead of the "
			       "image file. " +
			       hint;
		} else if (std::strcmp(what, "a PDF document") == 0) {
			hint = "PDF documents are not decoded; extract the page images first. " + hint;
		}
		Fail(std::string("data looks like ") + what + ", not an image", hint);
	}
	std::string hex;
	size_t shown = bytes.size < 8 ? bytes.size : 8;
	for (size_t i = 0; i < shown; i++) {
		char digits[4];
		std::snprintf(digits, sizeof(digits), "%02x", bytes.data[i]);
		if (i > 0) {
			hex += ' ';
		}
		hex += digits;
	}
	if (bytes.size > shown) {
		hex += " ...";
	}
	Fail("unrecognised image format (first bytes: " + hex + ")", kSupportedFormats);
}

} // namespace

const char *
FormatName(ImageFormat format) noexcept {
	switch (format) {
	case ImageFormat::Jpeg:
		return "jpeg";
	case ImageFormat::Png:
		return "png";
	case ImageFormat::Tiff:
		return "tiff";
	case ImageFormat::WebP:
		return "webp";
	case ImageFormat::Bmp:
		return "bmp";
	case ImageFormat::Jpeg2000:
		return "jpeg2000";
	case ImageFormat::Gif:
		return "gif";
	case ImageFormat::Unknown:
		break;
	}
	return "unknown";
}

const char *
FormatMimeType(ImageFormat format) noexcept {
	switch (format) {
	case ImageFormat::Jpeg:
		return "image/jpeg";
	case ImageFormat::Png:
		return "image/png";
	case ImageFormat::Tiff:
		return "image/tiff";
	case ImageFormat::WebP:
		return "image/webp";
	case ImageFormat::Bmp:
		return "image/bmp";
	case ImageFormat::Jpeg2000:
		return "image/jp2";
	case ImageFormat::Gif:
		return "image/gif";
	case ImageFormat::Unknown:
		break;
	}
	return "application/octet-stream";
}

/*
 * Looks at magic bytes only.  "BM" alone is weak evidence, so once the data is long enough
 * to hold it the DIB header size must also be one that BMP writers use.  BigTIFF ("II+")
 * counts as TIFF.
 */
ImageFormat
SniffFormat(ByteView bytes) noexcept {
	if (bytes.data == nullptr || bytes.size == 0) {
		return ImageFormat::Unknown;
	}
	if (MatchAt(bytes, 0, "\xFF\xD8\xFF", 3)) {
		return ImageFormat::Jpeg;
	}
	if (MatchAt(bytes, 0, kPngSignature, sizeof(kPngSignature))) {
		return ImageFormat::Png;
	}
	if (MatchAt(bytes, 0, "II*\0", 4) || MatchAt(bytes, 0, "MM\0*", 4) || MatchAt(bytes, 0, "II+\0", 4) ||
	    MatchAt(bytes, 0, "MM\0+", 4)) {
		return ImageFormat::Tiff;
	}
	if (MatchAt(bytes, 0, "RIFF", 4) && MatchAt(bytes, 8, "WEBP", 4)) {
		return ImageFormat::WebP;
	}
	if (MatchAt(bytes, 0, kJp2Signature, sizeof(kJp2Signature)) || MatchAt(bytes, 0, "\xFF\x4F\xFF\x51", 4)) {
		return ImageFormat::Jpeg2000;
	}
	if (MatchAt(bytes, 0, "GIF87a", 6) || MatchAt(bytes, 0, "GIF89a", 6)) {
		return ImageFormat::Gif;
	}
	if (MatchAt(bytes, 0, "BM", 2) && (bytes.size < 18 || IsBmpDibHeaderSize(Le32(bytes.data + 14)))) {
		return ImageFormat::Bmp;
	}
	return ImageFormat::Unknown;
}

ImageHeader
ReadImageHeader(ByteView bytes) {
	if (bytes.data == nullptr || bytes.size == 0) {
		Fail("image data is empty", "The value has zero length; store the complete image file as bytea.");
	}
	switch (SniffFormat(bytes)) {
	case ImageFormat::Jpeg:
		return ReadJpeg(bytes);
	case ImageFormat::Png:
		return ReadPng(bytes);
	case ImageFormat::Tiff:
		return ReadTiff(bytes);
	case ImageFormat::WebP:
		return ReadWebP(bytes);
	case ImageFormat::Bmp:
		return ReadBmp(bytes);
	case ImageFormat::Jpeg2000:
		return ReadJp2(bytes);
	case ImageFormat::Gif:
		Fail("GIF images are not supported", "Convert the image to PNG first. " + std::string(kSupportedFormats));
	case ImageFormat::Unknown:
		break;
	}
	FailUnrecognised(bytes);
}

} // namespace europeana::core
