/*
 * faults.hpp — the fake server's switchable misbehaviour.
 *
 * API faults (search and record endpoints) are chosen by request sequence number, so a test knows exactly which
 * request fails: either "every N-th request, cycling through kinds" or a script of kinds for successive requests.
 * Media faults are chosen per media resource by hashing the owning record id into 0..99 and walking a table of
 * percentages (or a per-id override), so the same record always misbehaves the same way.
 *
 * Thread-safe: these are plain values; the server guards its one FaultConfig with a mutex.
 */
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace europeana::fake {

/* The API fault kinds; "ok" means no fault. */
const std::vector<std::string> &ApiFaultKinds();

/* The media fault kinds in the order their percentage ranges are laid out over 0..99; "ok" is implicit. */
const std::vector<std::string> &MediaFaultKinds();

/* MediaKindServesImage says whether a client that follows at most 3 redirects, sniffs bytes instead of trusting
 * Content-Type and gives up before slow_ms still ends up with the record's JPEG. */
bool MediaKindServesImage(std::string_view kind);

struct SequencePlan {
	std::vector<std::string> script; /* kinds for requests 1, 2, 3, … after the plan was set */
	bool repeat = false;             /* start the script over when it runs out (otherwise "ok") */
	uint64_t every = 0;              /* alternatively: every N-th request gets a fault … */
	uint64_t offset = 0;             /* … counting from request offset+1 … */
	std::vector<std::string> kinds;  /* … cycling through these kinds */
	uint64_t seq = 0;                /* requests seen since the plan was set or reset */

	/* Next counts one request and returns its fault kind. */
	std::string Next();
	nlohmann::json ToJson() const;
	/* FromJson throws std::invalid_argument with a readable message. */
	static SequencePlan FromJson(const nlohmann::json &json);
};

struct MediaPlan {
	std::vector<std::pair<std::string, int>> rates; /* kind -> percent, in MediaFaultKinds() order */
	std::map<std::string, std::string> overrides;   /* record id -> kind ("ok" allowed) */

	static MediaPlan Defaults();
	/* KindFor returns the fault for a media resource owned by `owner_id`, shared by `member_ids`. */
	std::string KindFor(const std::string &owner_id, const std::vector<std::string> &member_ids) const;
	nlohmann::json ToJson() const;
	/* FromJson accepts "none", "default", "kind=pct,…" or {"rates": {…}, "overrides": {…}}. */
	static MediaPlan FromJson(const nlohmann::json &json);
	static MediaPlan FromSpec(const std::string &spec);
};

struct RateLimitPlan {
	int64_t quota = 1000;    /* q= in RateLimit-Policy */
	int64_t window_s = 3600; /* w= in RateLimit-Policy */
	int64_t reset_s = 2;     /* t= in RateLimit on scripted 429 answers */
	bool enforce = false;    /* answer 429 by itself once `quota` requests fall in one window */
};

struct FaultConfig {
	SequencePlan search;
	SequencePlan record;
	MediaPlan media = MediaPlan::Defaults();
	RateLimitPlan ratelimit;
	int64_t slow_ms = 15000;
	int64_t latency_ms = 0;
	int64_t media_latency_ms = 0;
	int64_t huge_bytes = 300LL * 1000 * 1000;

	nlohmann::json ToJson() const;
	/* Apply merges the sections present in `json` into this config (resetting the sequence of any plan it sets). */
	void Apply(const nlohmann::json &json);
};

} // namespace europeana::fake
