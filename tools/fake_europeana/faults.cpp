/*
 * faults.cpp — parsing, printing and evaluation of the fault plans described in faults.hpp.
 *
 * Thread-safe: no shared state here; the server serialises access to its FaultConfig.
 */
#include "faults.hpp"

#include "util.hpp"

#include <algorithm>
#include <stdexcept>

namespace europeana::fake {

namespace {

void
CheckKind(const std::string &kind, const std::vector<std::string> &known, const char *what) {
	if (kind != "ok" && std::find(known.begin(), known.end(), kind) == known.end()) {
		std::string list = "ok";
		for (const std::string &k : known) {
			list += ", " + k;
		}
		throw std::invalid_argument(std::string("unknown ") + what + " fault kind '" + kind + "' (known: " + list +
		                            ")");
	}
}

std::vector<std::string>
KindList(const nlohmann::json &json, const char *key) {
	std::vector<std::string> kinds;
	if (!json.contains(key)) {
		return kinds;
	}
	const nlohmann::json &list = json.at(key);
	if (!list.is_array()) {
		throw std::invalid_argument(std::string("'") + key + "' must be an array of fault kinds");
	}
	for (const nlohmann::json &item : list) {
		if (!item.is_string()) {
			throw std::invalid_argument(std::string("'") + key + "' must hold strings");
		}
		std::string kind = item.get<std::string>();
		CheckKind(kind, ApiFaultKinds(), "API");
		kinds.push_back(kind);
	}
	return kinds;
}

int64_t
NonNegative(const nlohmann::json &json, const char *key) {
	const nlohmann::json &value = json.at(key);
	if (!value.is_number_integer() || value.get<int64_t>() < 0) {
		throw std::invalid_argument(std::string("'") + key + "' must be a non-negative integer");
	}
	return value.get<int64_t>();
}

} // namespace

const std::vector<std::string> &
ApiFaultKinds() {
	static const std::vector<std::string> kKinds = {
	    "503",       /* 503 JSON, code 503-SA (search engine unreachable) */
	    "429",       /* 429 JSON, code 429_limit_personal, RateLimit-Policy/RateLimit headers */
	    "html502",   /* 502 Bad Gateway with an HTML body */
	    "502",       /* alias of html502 */
	    "html504",   /* 504 Gateway Timeout with an HTML body */
	    "500",       /* 500 JSON "Internal server error" */
	    "504-SA",    /* 400 JSON, code 504-SA (Solr timeout, mapped to 400 by the real API) */
	    "400-SC",    /* 400 JSON, code 400-SC (invalid cursor), whatever the request said */
	    "400-SA",    /* 400 JSON, code 400-SA (invalid search query) */
	    "401",       /* 401 JSON, code 401_key_invalid */
	    "reset",     /* connection closed without any response */
	    "slow",      /* the normal answer, after slow_ms */
	    "truncated", /* the normal answer's headers, then half the body and a closed connection */
	    "html200",   /* 200 with a text/html maintenance page */
	    "drift",     /* the normal answer with totalResults increased by 7 */
	    "shift",     /* the page starts one record early, repeating the previous page's last item */
	    "redirect",  /* 301 to the same query under /record/v2/search.json (counts as a new request) */
	};
	return kKinds;
}

const std::vector<std::string> &
MediaFaultKinds() {
	static const std::vector<std::string> kKinds = {
	    "redirect1",  "redirect2",   "redirect3", "redirect5",    "slow",        "stall",
	    "ctype_html", "ctype_octet", "html200",   "pdf",          "404",         "410",
	    "500",        "truncated",   "huge_tiff", "huge_chunked", "placeholder",
	};
	return kKinds;
}

bool
MediaKindServesImage(std::string_view kind) {
	return kind == "ok" || kind == "redirect1" || kind == "redirect2" || kind == "redirect3" || kind == "ctype_html" ||
	       kind == "ctype_octet";
}

std::string
SequencePlan::Next() {
	seq++;
	if (!script.empty()) {
		if (seq <= script.size()) {
			return script[seq - 1];
		}
		return repeat ? script[(seq - 1) % script.size()] : "ok";
	}
	if (every > 0 && !kinds.empty() && seq > offset && (seq - offset) % every == 0) {
		return kinds[((seq - offset) / every - 1) % kinds.size()];
	}
	return "ok";
}

nlohmann::json
SequencePlan::ToJson() const {
	nlohmann::json json = nlohmann::json::object();
	if (!script.empty()) {
		json["script"] = script;
		json["repeat"] = repeat;
	}
	if (every > 0) {
		json["every"] = every;
		json["offset"] = offset;
		json["kinds"] = kinds;
	}
	json["seq"] = seq;
	return json;
}

SequencePlan
SequencePlan::FromJson(const nlohmann::json &json) {
	SequencePlan plan;
	if (json.is_null() || (json.is_string() && json.get<std::string>() == "none")) {
		return plan;
	}
	if (json.is_array()) {
		nlohmann::json wrapped = {{"script", json}};
		return FromJson(wrapped);
	}
	if (!json.is_object()) {
		throw std::invalid_argument("a fault plan must be an object, an array (script) or \"none\"");
	}
	for (auto it = json.begin(); it != json.end(); ++it) {
		const std::string &key = it.key();
		if (key != "script" && key != "repeat" && key != "every" && key != "offset" && key != "kinds" && key != "seq") {
			throw std::invalid_argument("unknown fault plan key '" + key + "'");
		}
	}
	plan.script = KindList(json, "script");
	plan.kinds = KindList(json, "kinds");
	if (json.contains("repeat")) {
		if (!json.at("repeat").is_boolean()) {
			throw std::invalid_argument("'repeat' must be true or false");
		}
		plan.repeat = json.at("repeat").get<bool>();
	}
	if (json.contains("every")) {
		plan.every = uint64_t(NonNegative(json, "every"));
	}
	if (json.contains("offset")) {
		plan.offset = uint64_t(NonNegative(json, "offset"));
	}
	if (plan.every > 0 && plan.kinds.empty()) {
		throw std::invalid_argument("'every' needs a non-empty 'kinds' list");
	}
	return plan;
}

MediaPlan
MediaPlan::Defaults() {
	MediaPlan plan;
	plan.rates = {
	    {"redirect1", 3},  {"redirect2", 2},   {"redirect3", 1}, {"redirect5", 1},    {"slow", 1},        {"stall", 1},
	    {"ctype_html", 2}, {"ctype_octet", 2}, {"html200", 1},   {"pdf", 1},          {"404", 2},         {"410", 1},
	    {"500", 1},        {"truncated", 1},   {"huge_tiff", 1}, {"huge_chunked", 0}, {"placeholder", 1},
	};
	return plan;
}

std::string
MediaPlan::KindFor(const std::string &owner_id, const std::vector<std::string> &member_ids) const {
	for (const std::string &id : member_ids) {
		auto it = overrides.find(id);
		if (it != overrides.end()) {
			return it->second;
		}
	}
	int bucket = int(Bucket("media", owner_id, 100));
	for (const auto &[kind, percent] : rates) {
		if (bucket < percent) {
			return kind;
		}
		bucket -= percent;
	}
	return "ok";
}

nlohmann::json
MediaPlan::ToJson() const {
	nlohmann::json rates_json = nlohmann::json::object();
	int total = 0;
	for (const auto &[kind, percent] : rates) {
		rates_json[kind] = percent;
		total += percent;
	}
	return {{"rates", rates_json}, {"overrides", overrides}, {"faulty_percent", total}};
}

MediaPlan
MediaPlan::FromJson(const nlohmann::json &json) {
	if (json.is_string()) {
		return FromSpec(json.get<std::string>());
	}
	if (!json.is_object()) {
		throw std::invalid_argument("'media' must be \"none\", \"default\", \"kind=pct,…\" or an object");
	}
	MediaPlan plan = Defaults();
	if (json.contains("rates")) {
		const nlohmann::json &rates_json = json.at("rates");
		if (rates_json.is_string()) {
			plan.rates = FromSpec(rates_json.get<std::string>()).rates;
		} else if (rates_json.is_object()) {
			for (auto &[kind, percent] : plan.rates) {
				percent = 0;
			}
			int total = 0;
			for (auto it = rates_json.begin(); it != rates_json.end(); ++it) {
				CheckKind(it.key(), MediaFaultKinds(), "media");
				if (!it.value().is_number_integer() || it.value().get<int>() < 0) {
					throw std::invalid_argument("media rate for '" + it.key() + "' must be a non-negative integer");
				}
				for (auto &[kind, percent] : plan.rates) {
					if (kind == it.key()) {
						percent = it.value().get<int>();
						total += percent;
					}
				}
			}
			if (total > 100) {
				throw std::invalid_argument("media fault rates add up to more than 100 percent");
			}
		} else {
			throw std::invalid_argument("'media.rates' must be an object of kind -> percent");
		}
	}
	if (json.contains("overrides")) {
		const nlohmann::json &overrides_json = json.at("overrides");
		if (!overrides_json.is_object()) {
			throw std::invalid_argument("'media.overrides' must be an object of record id -> kind");
		}
		for (auto it = overrides_json.begin(); it != overrides_json.end(); ++it) {
			if (!it.value().is_string()) {
				throw std::invalid_argument("media override for '" + it.key() + "' must be a kind string");
			}
			std::string kind = it.value().get<std::string>();
			CheckKind(kind, MediaFaultKinds(), "media");
			plan.overrides[it.key()] = kind;
		}
	}
	return plan;
}

MediaPlan
MediaPlan::FromSpec(const std::string &spec) {
	MediaPlan plan = Defaults();
	std::string trimmed = Trim(spec);
	if (trimmed == "default" || trimmed.empty()) {
		return plan;
	}
	for (auto &[kind, percent] : plan.rates) {
		percent = 0;
	}
	if (trimmed == "none") {
		return plan;
	}
	int total = 0;
	for (const std::string &item : SplitAny(trimmed, ",")) {
		size_t eq = item.find('=');
		if (eq == std::string::npos) {
			throw std::invalid_argument("media fault spec item '" + item + "' is not kind=percent");
		}
		std::string name = Trim(item.substr(0, eq));
		CheckKind(name, MediaFaultKinds(), "media");
		auto percent_value = ParseJavaInt(item.substr(eq + 1));
		if (!percent_value || *percent_value < 0) {
			throw std::invalid_argument("media fault spec item '" + item + "' needs a non-negative percent");
		}
		for (auto &[kind, percent] : plan.rates) {
			if (kind == name) {
				percent = *percent_value;
				total += percent;
			}
		}
	}
	if (total > 100) {
		throw std::invalid_argument("media fault rates add up to more than 100 percent");
	}
	return plan;
}

nlohmann::json
FaultConfig::ToJson() const {
	return {
	    {"search", search.ToJson()},
	    {"record", record.ToJson()},
	    {"media", media.ToJson()},
	    {"ratelimit",
	     {{"q", ratelimit.quota}, {"w", ratelimit.window_s}, {"t", ratelimit.reset_s}, {"enforce", ratelimit.enforce}}},
	    {"slow_ms", slow_ms},
	    {"latency_ms", latency_ms},
	    {"media_latency_ms", media_latency_ms},
	    {"huge_bytes", huge_bytes},
	};
}

void
FaultConfig::Apply(const nlohmann::json &json) {
	if (!json.is_object()) {
		throw std::invalid_argument("the fault configuration must be a JSON object");
	}
	FaultConfig next = *this;
	for (auto it = json.begin(); it != json.end(); ++it) {
		const std::string &key = it.key();
		const nlohmann::json &value = it.value();
		if (key == "search") {
			next.search = SequencePlan::FromJson(value);
		} else if (key == "script") {
			next.search = SequencePlan::FromJson(nlohmann::json {{"script", value}});
		} else if (key == "record") {
			next.record = SequencePlan::FromJson(value);
		} else if (key == "media") {
			next.media = MediaPlan::FromJson(value);
		} else if (key == "ratelimit") {
			if (!value.is_object()) {
				throw std::invalid_argument("'ratelimit' must be an object with q, w, t, enforce");
			}
			for (auto rl = value.begin(); rl != value.end(); ++rl) {
				if (rl.key() == "q") {
					next.ratelimit.quota = NonNegative(value, "q");
				} else if (rl.key() == "w") {
					next.ratelimit.window_s = std::max<int64_t>(1, NonNegative(value, "w"));
				} else if (rl.key() == "t") {
					next.ratelimit.reset_s = NonNegative(value, "t");
				} else if (rl.key() == "enforce") {
					if (!rl.value().is_boolean()) {
						throw std::invalid_argument("'ratelimit.enforce' must be true or false");
					}
					next.ratelimit.enforce = rl.value().get<bool>();
				} else {
					throw std::invalid_argument("unknown ratelimit key '" + rl.key() + "'");
				}
			}
		} else if (key == "slow_ms") {
			next.slow_ms = NonNegative(json, "slow_ms");
		} else if (key == "latency_ms") {
			next.latency_ms = NonNegative(json, "latency_ms");
		} else if (key == "media_latency_ms") {
			next.media_latency_ms = NonNegative(json, "media_latency_ms");
		} else if (key == "huge_bytes") {
			next.huge_bytes = std::max<int64_t>(1024, NonNegative(json, "huge_bytes"));
		} else {
			throw std::invalid_argument("unknown fault configuration key '" + key + "'");
		}
	}
	*this = next;
}

} // namespace europeana::fake
