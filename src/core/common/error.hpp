/*
 * error.hpp — the one exception type the core throws.
 *
 * Every failure that the core detects is a europeana::Error carrying an ErrorKind; the
 * glue maps the kind to a SQLSTATE and the hint to errhint.  Exceptions of other types
 * (c10::Error, cv::Exception, std::bad_alloc) may also escape from third-party code;
 * the glue's guard catches those too.
 */
#pragma once

#include "core/common/no_postgres.hpp"

#include <stdexcept>
#include <string>

namespace europeana {

enum class ErrorKind {
	InvalidInput,  /* bad parameter value (model name, k, URL) */
	InvalidData,   /* bytes that are not a valid image: malformed, truncated, unsupported */
	NotFound,      /* unknown model or other named object */
	MissingFile,   /* a file the metadata names is absent */
	ResourceLimit, /* image too large, too many pixels */
	Unavailable,   /* remote service unreachable */
	Cancelled,     /* the caller asked us to stop */
	Corrupt,       /* a file we own is damaged (model checksum, unreadable metadata) */
	Internal       /* a bug or an unexpected library failure */
};

class Error : public std::runtime_error {
public:
	Error(ErrorKind kind, const std::string &message, std::string hint = {})
	    : std::runtime_error(message), kind_(kind), hint_(std::move(hint)) {
	}

	ErrorKind
	Kind() const noexcept {
		return kind_;
	}
	const std::string &
	Hint() const noexcept {
		return hint_;
	}

private:
	ErrorKind kind_;
	std::string hint_;
};

} // namespace europeana
