/*
 * datum.hpp — views of PostgreSQL values for the core, without copies.
 */
#pragma once

#include "core/common/bytes.hpp"
#include "pg/boundary.hpp"

namespace europeana::pg {

/* A view over a detoasted bytea's payload; valid while the bytea is. */
inline core::ByteView
AsBytes(const bytea *value) noexcept {
	core::ByteView v;
	v.data = reinterpret_cast<const uint8_t *>(VARDATA_ANY(value));
	v.size = VARSIZE_ANY_EXHDR(value);
	return v;
}

} // namespace europeana::pg
