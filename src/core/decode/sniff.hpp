/*
 * sniff.hpp — recognise an image format and read its dimensions without decoding it.
 *
 * Runs before any bytes reach OpenCV's imdecode.  SniffFormat looks at magic bytes only;
 * ReadImageHeader also parses just enough of the header to report width and height, so a
 * caller can refuse a decompression bomb (a tiny file that claims 100000x100000 pixels)
 * before a single pixel is allocated, and says whether the data is visibly truncated
 * (a JPEG without an EOI marker after its first scan, a PNG without IEND), which OpenCV
 * would otherwise decode silently as a partly grey picture.
 *
 * Contract: every read is bounds-checked against ByteView::size, declared lengths are
 * compared without overflow, nothing is allocated in proportion to the input, and the
 * cost is at most one pass over the bytes (JPEG entropy data and PNG chunks are skipped
 * with memchr and chunk lengths).  ReadImageHeader does not apply any size limit itself;
 * that is the caller's policy.
 */
#pragma once

#include "core/common/bytes.hpp"
#include "core/common/no_postgres.hpp"

#include <cstdint>

namespace europeana::core {

enum class ImageFormat { Unknown, Jpeg, Png, Tiff, WebP, Bmp, Jpeg2000, Gif };

/* "jpeg", "png", "tiff", "webp", "bmp", "jpeg2000", "gif" or "unknown". */
const char *FormatName(ImageFormat format) noexcept;

/* "image/jpeg", "image/png", ..., "image/jp2"; "application/octet-stream" for Unknown. */
const char *FormatMimeType(ImageFormat format) noexcept;

/* The format named by the leading magic bytes, or Unknown; parses nothing further. */
ImageFormat SniffFormat(ByteView bytes) noexcept;

struct ImageHeader {
	ImageFormat format = ImageFormat::Unknown;
	uint32_t width = 0;
	uint32_t height = 0;
	/*
	 * False when the data is visibly truncated: a JPEG with no EOI after its first SOS, a
	 * PNG with no IEND chunk; for the other formats a best effort (a RIFF, BMP or JP2 box
	 * size larger than the data, TIFF strips that end past it, a J2K codestream without EOC).
	 */
	bool complete = true;
	/* JPEG only: the frame type (0xC0 baseline, 0xC1 extended, 0xC2 progressive, ...), the
	 * number of components, and the EXIF orientation (1 when absent). */
	uint8_t jpeg_frame = 0;
	uint8_t components = 0;
	uint8_t orientation = 1;
};

/*
 * Reads the format and the dimensions.  Throws europeana::Error with ErrorKind::InvalidInput
 * for empty input, for data that is not an image or is in an unsupported format (the
 * message says what it looks like: an HTML document, a PDF document, a GIF image, or the
 * first bytes in hex), and for a header that cannot be parsed (truncated before the
 * dimensions, or zero width or height).
 */
ImageHeader ReadImageHeader(ByteView bytes);

} // namespace europeana::core
