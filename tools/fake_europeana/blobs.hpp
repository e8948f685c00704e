/*
 * blobs.hpp — the synthetic payloads the fake server answers with: Europeana's default thumbnail icons (valid PNGs of
 * the exact byte sizes the real Thumbnail API serves), a small PDF, the header of a huge TIFF, HTML pages, and a JPEG
 * dimension reader for the Record API's web-resource metadata.
 *
 * Thread-safe: the icons are built once under a static-local initialiser; everything else is pure.
 */
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace europeana::fake {

/* Byte size of the Thumbnail API v2 default icon for IMAGE, the one a classifier must reject. */
constexpr size_t kImagePlaceholderBytes = 2319;

/*
 * PlaceholderPng returns the default icon for a media type (IMAGE 2319, SOUND 2484, VIDEO 1932, TEXT 2180, 3D 3012
 * bytes): a 32x32 greyscale PNG padded to that size with a tEXt chunk.  Unknown types get the IMAGE icon.
 */
const std::string &PlaceholderPng(std::string_view type);

/* MinimalPdf returns a small, well-formed one-page PDF ("%PDF-1.4" magic). */
const std::string &MinimalPdf();

/*
 * TiffHeader returns a little-endian baseline TIFF header and IFD for an uncompressed 8-bit greyscale image of
 * width x height whose single strip starts right after the returned bytes.
 */
std::string TiffHeader(uint32_t width, uint32_t height);

/* HtmlPage returns a minimal HTML document; title and text are inserted verbatim. */
std::string HtmlPage(std::string_view title, std::string_view text);

struct ImageDimensions {
	int width = 0;
	int height = 0;
};

/* JpegDimensions reads the first SOFn marker; nullopt when the bytes are not a parsable JPEG. */
std::optional<ImageDimensions> JpegDimensions(std::string_view data);

} // namespace europeana::fake
