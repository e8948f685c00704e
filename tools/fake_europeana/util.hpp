/*
 * util.hpp — small helpers shared by the fake Europeana server: stable hashing, base64, percent coding, parameter
 * parsing the way Spring converts request parameters, time formatting, digests, and the interruptible sleep that
 * every deliberately slow response uses so that SIGTERM ends the server promptly.
 *
 * Thread-safe: everything here is reentrant; the stop flag and its condition variable are process-global.
 */
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace europeana::fake {

/* FNV-1a, 64 bit: the only hash used for deterministic choices, so results never depend on the platform. */
uint64_t Fnv1a64(std::string_view data);

/* Fnv1a64Continue feeds more bytes into a running FNV-1a hash (Fnv1a64(a + b) == Continue(Fnv1a64(a), b)). */
uint64_t Fnv1a64Continue(uint64_t hash, std::string_view data);

/* Bucket returns Fnv1a64(salt + ":" + id) modulo `modulo`; salts keep independent choices uncorrelated. */
uint64_t Bucket(std::string_view salt, std::string_view id, uint64_t modulo);

std::string Base64Encode(std::string_view data);

/* Base64Decode accepts only the standard alphabet with correct padding; anything else gives nullopt. */
std::optional<std::string> Base64Decode(std::string_view text);

/* PercentEncode escapes every byte except RFC 3986 unreserved characters (for query parameter values). */
std::string PercentEncode(std::string_view text);

/* PercentDecode turns %XX into bytes and leaves '+' alone (path semantics). */
std::string PercentDecode(std::string_view text);

std::string Md5Hex(std::string_view data);
std::string Sha256Hex(std::string_view data);

/* IsoTimeMs formats epoch milliseconds as 2022-03-02T15:35:41.563Z. */
std::string IsoTimeMs(int64_t epoch_ms);

/* HttpDate formats epoch seconds as an IMF-fixdate (Last-Modified). */
std::string HttpDate(int64_t epoch_s);

std::string Trim(std::string_view text);
std::string ToLower(std::string_view text);
bool StartsWith(std::string_view text, std::string_view prefix);
bool EndsWith(std::string_view text, std::string_view suffix);

/* SplitAny splits on any of `separators` and drops empty pieces. */
std::vector<std::string> SplitAny(std::string_view text, std::string_view separators);

/* ParseJavaInt parses like Integer.parseInt after Spring's trim: optional sign, decimal digits, int32 range. */
std::optional<int32_t> ParseJavaInt(std::string_view text);

/*
 * ParseSpringBool converts like Spring's StringToBooleanConverter: true/on/yes/1 and false/off/no/0, case-insensitive,
 * after trimming.  Returns nullopt for anything else (the caller answers 400); the caller treats "" as absent.
 */
std::optional<bool> ParseSpringBool(std::string_view text);

/* SleepInterruptible waits `ms` milliseconds or until RequestStop; returns false when interrupted. */
bool SleepInterruptible(int64_t ms);
void RequestStop();
bool StopRequested();

} // namespace europeana::fake
