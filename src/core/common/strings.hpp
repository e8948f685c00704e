/*
 * strings.hpp — the small ASCII string helpers the core uses in several places.
 */
#pragma once

#include "core/common/no_postgres.hpp"

#include <cctype>
#include <string>

namespace europeana::core {

/* AsciiLower lower-cases ASCII letters (header names, schemes, hosts, API codes). */
inline std::string
AsciiLower(std::string text) {
	for (char &c : text) {
		c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
	}
	return text;
}

/* Trim drops leading and trailing white space. */
inline std::string
Trim(const std::string &text) {
	size_t begin = 0;
	size_t end = text.size();
	while (begin < end && std::isspace(static_cast<unsigned char>(text[begin]))) {
		begin++;
	}
	while (end > begin && std::isspace(static_cast<unsigned char>(text[end - 1]))) {
		end--;
	}
	return text.substr(begin, end - begin);
}

} // namespace europeana::core
