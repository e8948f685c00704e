/*
 * util.cpp — implementation of the fake server's helpers (see util.hpp).
 *
 * Thread-safe: pure functions, except the stop flag, which is an atomic plus a condition variable.
 */
#include "util.hpp"

#include <openssl/evp.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace europeana::fake {

namespace {

constexpr char kBase64Alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::atomic<bool> g_stop_requested {false};
std::mutex g_stop_mutex;
std::condition_variable g_stop_cv;

int
Base64Value(char c) {
	if (c >= 'A' && c <= 'Z') {
		return c - 'A';
	}
	if (c >= 'a' && c <= 'z') {
		return c - 'a' + 26;
	}
	if (c >= '0' && c <= '9') {
		return c - '0' + 52;
	}
	if (c == '+') {
		return 62;
	}
	if (c == '/') {
		return 63;
	}
	return -1;
}

int
HexValue(char c) {
	if (c >= '0' && c <= '9') {
		return c - '0';
	}
	if (c >= 'a' && c <= 'f') {
		return c - 'a' + 10;
	}
	if (c >= 'A' && c <= 'F') {
		return c - 'A' + 10;
	}
	return -1;
}

/* DigestHex runs one EVP digest; the EVP interface avoids OpenSSL 3's deprecated MD5()/SHA256() shortcuts. */
std::string
DigestHex(const EVP_MD *md, std::string_view data) {
	unsigned char out[EVP_MAX_MD_SIZE];
	unsigned int out_len = 0;
	if (EVP_Digest(data.data(), data.size(), out, &out_len, md, nullptr) != 1) {
		return std::string();
	}
	static const char kHex[] = "0123456789abcdef";
	std::string hex;
	hex.reserve(out_len * 2);
	for (unsigned int i = 0; i < out_len; i++) {
		hex.push_back(kHex[out[i] >> 4]);
		hex.push_back(kHex[out[i] & 0x0f]);
	}
	return hex;
}

} // namespace

uint64_t
Fnv1a64(std::string_view data) {
	return Fnv1a64Continue(0xcbf29ce484222325ULL, data);
}

uint64_t
Fnv1a64Continue(uint64_t hash, std::string_view data) {
	for (unsigned char c : data) {
		hash ^= c;
		hash *= 0x100000001b3ULL;
	}
	return hash;
}

uint64_t
Bucket(std::string_view salt, std::string_view id, uint64_t modulo) {
	uint64_t hash = Fnv1a64Continue(Fnv1a64Continue(Fnv1a64(salt), ":"), id);
	return modulo == 0 ? 0 : hash % modulo;
}

std::string
Base64Encode(std::string_view data) {
	std::string out;
	out.reserve((data.size() + 2) / 3 * 4);
	size_t i = 0;
	for (; i + 2 < data.size(); i += 3) {
		uint32_t v = (uint32_t(uint8_t(data[i])) << 16) | (uint32_t(uint8_t(data[i + 1])) << 8) | uint8_t(data[i + 2]);
		out.push_back(kBase64Alphabet[(v >> 18) & 63]);
		out.push_back(kBase64Alphabet[(v >> 12) & 63]);
		out.push_back(kBase64Alphabet[(v >> 6) & 63]);
		out.push_back(kBase64Alphabet[v & 63]);
	}
	size_t rest = data.size() - i;
	if (rest == 1) {
		uint32_t v = uint32_t(uint8_t(data[i])) << 16;
		out.push_back(kBase64Alphabet[(v >> 18) & 63]);
		out.push_back(kBase64Alphabet[(v >> 12) & 63]);
		out.append("==");
	} else if (rest == 2) {
		uint32_t v = (uint32_t(uint8_t(data[i])) << 16) | (uint32_t(uint8_t(data[i + 1])) << 8);
		out.push_back(kBase64Alphabet[(v >> 18) & 63]);
		out.push_back(kBase64Alphabet[(v >> 12) & 63]);
		out.push_back(kBase64Alphabet[(v >> 6) & 63]);
		out.push_back('=');
	}
	return out;
}

std::optional<std::string>
Base64Decode(std::string_view text) {
	if (text.empty() || text.size() % 4 != 0) {
		return std::nullopt;
	}
	size_t padding = 0;
	if (text.back() == '=') {
		padding++;
		if (text[text.size() - 2] == '=') {
			padding++;
		}
	}
	std::string out;
	out.reserve(text.size() / 4 * 3);
	for (size_t i = 0; i < text.size(); i += 4) {
		bool last = i + 4 == text.size();
		uint32_t v = 0;
		for (size_t j = 0; j < 4; j++) {
			char c = text[i + j];
			int value = 0;
			if (c == '=') {
				if (!last || j < 4 - padding) {
					return std::nullopt;
				}
			} else {
				value = Base64Value(c);
				if (value < 0) {
					return std::nullopt;
				}
			}
			v = (v << 6) | uint32_t(value);
		}
		out.push_back(char((v >> 16) & 0xff));
		if (!last || padding < 2) {
			out.push_back(char((v >> 8) & 0xff));
		}
		if (!last || padding < 1) {
			out.push_back(char(v & 0xff));
		}
	}
	return out;
}

std::string
PercentEncode(std::string_view text) {
	static const char kHex[] = "0123456789ABCDEF";
	std::string out;
	out.reserve(text.size() * 3);
	for (unsigned char c : text) {
		if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
			out.push_back(char(c));
		} else {
			out.push_back('%');
			out.push_back(kHex[c >> 4]);
			out.push_back(kHex[c & 0x0f]);
		}
	}
	return out;
}

std::string
PercentDecode(std::string_view text) {
	std::string out;
	out.reserve(text.size());
	for (size_t i = 0; i < text.size(); i++) {
		if (text[i] == '%' && i + 2 < text.size()) {
			int hi = HexValue(text[i + 1]);
			int lo = HexValue(text[i + 2]);
			if (hi >= 0 && lo >= 0) {
				out.push_back(char(hi * 16 + lo));
				i += 2;
				continue;
			}
		}
		out.push_back(text[i]);
	}
	return out;
}

std::string
Md5Hex(std::string_view data) {
	return DigestHex(EVP_md5(), data);
}

std::string
Sha256Hex(std::string_view data) {
	return DigestHex(EVP_sha256(), data);
}

std::string
IsoTimeMs(int64_t epoch_ms) {
	time_t seconds = time_t(epoch_ms / 1000);
	struct tm tm_utc {};
	gmtime_r(&seconds, &tm_utc);
	char buf[64];
	std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm_utc.tm_year + 1900, tm_utc.tm_mon + 1,
	              tm_utc.tm_mday, tm_utc.tm_hour, tm_utc.tm_min, tm_utc.tm_sec, int(epoch_ms % 1000));
	return buf;
}

std::string
HttpDate(int64_t epoch_s) {
	time_t seconds = time_t(epoch_s);
	struct tm tm_utc {};
	gmtime_r(&seconds, &tm_utc);
	char buf[64];
	std::strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S GMT", &tm_utc);
	return buf;
}

std::string
Trim(std::string_view text) {
	size_t begin = 0;
	size_t end = text.size();
	while (begin < end && std::isspace(static_cast<unsigned char>(text[begin]))) {
		begin++;
	}
	while (end > begin && std::isspace(static_cast<unsigned char>(text[end - 1]))) {
		end--;
	}
	return std::string(text.substr(begin, end - begin));
}

std::string
ToLower(std::string_view text) {
	std::string out(text);
	for (char &c : out) {
		c = char(std::tolower(static_cast<unsigned char>(c)));
	}
	return out;
}

bool
StartsWith(std::string_view text, std::string_view prefix) {
	return text.size() >= prefix.size() && text.compare(0, prefix.size(), prefix) == 0;
}

bool
EndsWith(std::string_view text, std::string_view suffix) {
	return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::vector<std::string>
SplitAny(std::string_view text, std::string_view separators) {
	std::vector<std::string> parts;
	std::string current;
	for (char c : text) {
		if (separators.find(c) != std::string_view::npos) {
			if (!current.empty()) {
				parts.push_back(current);
				current.clear();
			}
		} else {
			current.push_back(c);
		}
	}
	if (!current.empty()) {
		parts.push_back(current);
	}
	return parts;
}

std::optional<int32_t>
ParseJavaInt(std::string_view text) {
	std::string trimmed = Trim(text);
	if (trimmed.empty()) {
		return std::nullopt;
	}
	size_t pos = 0;
	bool negative = false;
	if (trimmed[0] == '+' || trimmed[0] == '-') {
		negative = trimmed[0] == '-';
		pos = 1;
	}
	if (pos == trimmed.size()) {
		return std::nullopt;
	}
	int64_t value = 0;
	for (; pos < trimmed.size(); pos++) {
		char c = trimmed[pos];
		if (c < '0' || c > '9') {
			return std::nullopt;
		}
		value = value * 10 + (c - '0');
		if (value > int64_t(INT32_MAX) + 1) {
			return std::nullopt;
		}
	}
	if (negative) {
		value = -value;
	}
	if (value > INT32_MAX || value < INT32_MIN) {
		return std::nullopt;
	}
	return int32_t(value);
}

std::optional<bool>
ParseSpringBool(std::string_view text) {
	std::string value = ToLower(Trim(text));
	if (value == "true" || value == "on" || value == "yes" || value == "1") {
		return true;
	}
	if (value == "false" || value == "off" || value == "no" || value == "0") {
		return false;
	}
	return std::nullopt;
}

bool
SleepInterruptible(int64_t ms) {
	if (ms <= 0) {
		return !g_stop_requested.load();
	}
	std::unique_lock<std::mutex> lock(g_stop_mutex);
	return !g_stop_cv.wait_for(lock, std::chrono::milliseconds(ms), [] { return g_stop_requested.load(); });
}

void
RequestStop() {
	{
		std::lock_guard<std::mutex> lock(g_stop_mutex);
		g_stop_requested.store(true);
	}
	g_stop_cv.notify_all();
}

bool
StopRequested() {
	return g_stop_requested.load();
}

} // namespace europeana::fake
