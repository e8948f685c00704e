/*
 * bytes.hpp — a non-owning view of image or file bytes (C++17 stand-in for std::span).
 *
 * The glue builds one straight over a detoasted bytea (VARDATA_ANY / VARSIZE_ANY_EXHDR)
 * so that decoding never copies the input.
 */
#pragma once

#include "core/common/no_postgres.hpp"

#include <cstddef>
#include <cstdint>

namespace europeana::core {

struct ByteView {
	const uint8_t *data = nullptr;
	size_t size = 0;

	bool
	empty() const noexcept {
		return size == 0;
	}
};

} // namespace europeana::core
