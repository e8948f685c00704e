/*
 * api.cpp — the Search API (§3, §4) and Record API (§8) handlers, API-key checks (§2) and API faults.
 *
 * Validation follows the real server's order (§3 end): parameter binding (missing query, bad int or boolean) before
 * the key, then the key, blank query, cursor/start checks, qf parsing, and finally what Solr itself would reject
 * (offset limit, cursor without a europeana_id tie-breaker).  Injected API faults come first of all, as a gateway's
 * would.
 *
 * Runs on httplib worker threads; shared state is touched only under mutex_.
 */
#include "blobs.hpp"
#include "query.hpp"
#include "server.hpp"
#include "util.hpp"

#include <algorithm>
#include <cmath>
#include <memory>

namespace europeana::fake {

namespace {

using nlohmann::json;
using nlohmann::ordered_json;
using Params = std::multimap<std::string, std::string>;

constexpr char kJsonType[] = "application/json;charset=UTF-8";
/* Decodes to "AoJ4+/+/…": Solr-looking, and every cursor holds '+' and '/', so unencoded cursors break (§13.11). */
const std::string kCursorMagic("\x02\x82\x78\xfb\xff\xbf", 6);
constexpr int kRowLimit = 100;
constexpr int kSearchLimit = 1000;

ordered_json
ErrorBody(const std::string &apikey, const std::string &error, const std::string &message, const std::string &code) {
	ordered_json body;
	if (!apikey.empty()) {
		body["apikey"] = apikey;
	}
	body["success"] = false;
	body["error"] = error;
	if (!message.empty()) {
		body["message"] = message;
	}
	if (!code.empty()) {
		body["code"] = code;
	}
	return body;
}

/* LimitBody is the 429 body of §6 for the configured personal-key policy. */
ordered_json
LimitBody(const RateLimitPlan &plan) {
	std::string limit = std::to_string(plan.quota) + " requests per " + std::to_string(plan.window_s / 60) + " minutes";
	return ErrorBody("", "Personal key client has reached the limit of " + limit,
	                 "The use of personal keys is limited to " + limit +
	                     ". If your project requires more requests, please register for a project key.",
	                 "429_limit_personal");
}

std::string
First(const Params &params, const std::string &key, bool *present = nullptr) {
	auto it = params.find(key);
	if (present != nullptr) {
		*present = it != params.end();
	}
	return it == params.end() ? std::string() : it->second;
}

std::vector<std::string>
All(const Params &params, const std::string &key) {
	std::vector<std::string> values;
	auto range = params.equal_range(key);
	for (auto it = range.first; it != range.second; ++it) {
		values.push_back(it->second);
	}
	return values;
}

/* CollectParams merges query parameters with a POSTed JSON body ({"query": …, "qf": […], "rows": 12, …}). */
bool
CollectParams(const httplib::Request &req, Params &params, std::string &error) {
	params.insert(req.params.begin(), req.params.end());
	if (req.method != "POST" || Trim(req.body).empty()) {
		return true;
	}
	json body = json::parse(req.body, nullptr, false);
	if (body.is_discarded() || !body.is_object()) {
		error = "Invalid request body: expected a JSON object";
		return false;
	}
	auto add = [&](const std::string &key, const json &value) {
		if (value.is_string()) {
			params.emplace(key, value.get<std::string>());
		} else if (value.is_boolean()) {
			params.emplace(key, value.get<bool>() ? "true" : "false");
		} else if (!value.is_null()) {
			params.emplace(key, value.dump());
		}
	};
	for (auto it = body.begin(); it != body.end(); ++it) {
		if (it.value().is_array()) {
			for (const json &item : it.value()) {
				add(it.key(), item);
			}
		} else {
			add(it.key(), it.value());
		}
	}
	return true;
}

std::string
TypeMismatch(const std::string &value, const char *type) {
	std::string message = "Failed to convert value of type 'java.lang.String' to required type '";
	message += type;
	message += "'; nested exception is ";
	if (std::string(type) == "java.lang.Boolean") {
		message += "java.lang.IllegalArgumentException: Invalid boolean value [" + value + "]";
	} else {
		message += "java.lang.NumberFormatException: For input string: \"" + value + "\"";
	}
	return message;
}

struct SortKey {
	enum class Field { kId, kRandom, kCreated, kUpdated, kCompleteness, kConstant };
	Field field = Field::kId;
	bool ascending = false;
	std::string seed;
};

/* ParseSort reads "field [asc|desc], …" (default desc, '+' as space); false with a Solr-like message on error. */
bool
ParseSort(const std::string &text, uint64_t random_counter, std::vector<SortKey> &keys, std::string &error) {
	for (const std::string &item : SplitAny(text, ",")) {
		std::vector<std::string> words = SplitAny(item, " \t+");
		if (words.empty()) {
			continue;
		}
		if (words.size() > 2) {
			error = "Can't determine a Sort Order (asc or desc) in sort spec '" + item + "'";
			return false;
		}
		SortKey key;
		std::string direction = words.size() == 2 ? ToLower(words[1]) : "desc";
		if (direction != "asc" && direction != "desc") {
			error = "Can't determine a Sort Order (asc or desc) in sort spec '" + item + "'";
			return false;
		}
		key.ascending = direction == "asc";
		const std::string &field = words[0];
		if (field == "europeana_id") {
			key.field = SortKey::Field::kId;
		} else if (field == "random") {
			key.field = SortKey::Field::kRandom;
			key.seed = "request-" + std::to_string(random_counter); /* a new seed for every request (§3) */
		} else if (StartsWith(field, "random_")) {
			key.field = SortKey::Field::kRandom;
			key.seed = field.substr(7);
		} else if (field == "timestamp_created") {
			key.field = SortKey::Field::kCreated;
		} else if (field == "timestamp_update" || field == "timestamp") {
			key.field = SortKey::Field::kUpdated;
		} else if (field == "COMPLETENESS" || field == "europeana_completeness") {
			key.field = SortKey::Field::kCompleteness;
		} else if (field == "score" || field == "contentTier" || field == "metadataTier" || field == "is_fulltext" ||
		           field == "has_thumbnails" || field == "has_media" || field == "has_landingpage") {
			key.field = SortKey::Field::kConstant;
		} else {
			error = "sort param field can't be found: " + field;
			return false;
		}
		keys.push_back(key);
	}
	return true;
}

class RecordOrder {
public:
	explicit RecordOrder(std::vector<SortKey> keys) : keys_(std::move(keys)) {
	}

	/* Less is a strict total order: the sort keys, then europeana_id ascending as an internal tie-breaker. */
	bool
	operator()(const Record *a, const Record *b) const {
		for (const SortKey &key : keys_) {
			int cmp = Compare(key, *a, *b);
			if (cmp != 0) {
				return key.ascending ? cmp < 0 : cmp > 0;
			}
		}
		return a->id < b->id;
	}

private:
	std::vector<SortKey> keys_;

	static int
	Sign(int64_t a, int64_t b) {
		return a < b ? -1 : (a > b ? 1 : 0);
	}

	static int
	Compare(const SortKey &key, const Record &a, const Record &b) {
		switch (key.field) {
		case SortKey::Field::kId:
			return a.id.compare(b.id) < 0 ? -1 : (a.id == b.id ? 0 : 1);
		case SortKey::Field::kRandom: {
			uint64_t ha = Fnv1a64(key.seed + a.id);
			uint64_t hb = Fnv1a64(key.seed + b.id);
			return ha < hb ? -1 : (ha > hb ? 1 : 0);
		}
		case SortKey::Field::kCreated:
			return Sign(a.created_ms, b.created_ms);
		case SortKey::Field::kUpdated:
			return Sign(a.updated_ms, b.updated_ms);
		case SortKey::Field::kCompleteness:
			return Sign(a.completeness, b.completeness);
		case SortKey::Field::kConstant:
			return 0;
		}
		return 0;
	}
};

/* Facets renders TYPE, COUNTRY, RIGHTS and DATA_PROVIDER counts over the whole result set (profile=facets). */
ordered_json
Facets(const std::vector<const Record *> &hits) {
	auto facet = [&](const char *name, auto value_of) {
		std::map<std::string, uint64_t> counts;
		for (const Record *record : hits) {
			counts[value_of(*record)]++;
		}
		std::vector<std::pair<std::string, uint64_t>> sorted(counts.begin(), counts.end());
		std::stable_sort(sorted.begin(), sorted.end(),
		                 [](const auto &a, const auto &b) { return a.second > b.second; });
		ordered_json fields = ordered_json::array();
		for (size_t i = 0; i < sorted.size() && i < 50; i++) {
			ordered_json field;
			field["label"] = sorted[i].first;
			field["count"] = sorted[i].second;
			fields.push_back(field);
		}
		ordered_json out;
		out["name"] = name;
		out["fields"] = fields;
		return out;
	};
	ordered_json facets = ordered_json::array();
	if (hits.empty()) {
		return facets;
	}
	facets.push_back(facet("TYPE", [](const Record &) { return std::string("IMAGE"); }));
	facets.push_back(facet("COUNTRY", [](const Record &r) { return ToLower(r.country); }));
	facets.push_back(facet("RIGHTS", [](const Record &r) { return r.rights; }));
	facets.push_back(facet("DATA_PROVIDER", [](const Record &r) { return r.data_provider; }));
	return facets;
}

void
SendBody(httplib::Response &res, int status, const std::string &body, const std::string &content_type, bool truncated) {
	res.status = status;
	if (truncated) {
		SetTruncatedBody(res, body, content_type);
	} else {
		res.set_content(body, content_type.c_str());
	}
}

bool
ValidCallback(const std::string &callback) {
	return !callback.empty() && std::all_of(callback.begin(), callback.end(), [](char c) {
		return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '$';
	});
}

} // namespace

void
SetTruncatedBody(httplib::Response &res, std::string body, const std::string &content_type) {
	auto shared = std::make_shared<std::string>(std::move(body));
	size_t half = shared->size() / 2;
	res.set_content_provider(shared->size(), content_type,
	                         [shared, half](size_t offset, size_t, httplib::DataSink &sink) {
		                         if (offset >= half) {
			                         return false;
		                         }
		                         return sink.write(shared->data() + offset, half - offset);
	                         });
}

void
SetJson(httplib::Response &res, int status, const ordered_json &body) {
	res.status = status;
	res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace), kJsonType);
}

bool
Server::Authenticate(const httplib::Request &req, httplib::Response &res, std::string &key) {
	bool present = false;
	if (req.has_param("wskey")) {
		key = req.get_param_value("wskey");
		present = true;
	} else if (req.has_header("X-Api-Key")) {
		key = req.get_header_value("X-Api-Key");
		present = true;
	} else if (req.has_header("Authorization")) {
		std::string value = Trim(req.get_header_value("Authorization"));
		std::string scheme = ToLower(value.substr(0, value.find(' ')));
		if (scheme == "apikey" || scheme == "bearer") {
			key = Trim(value.substr(scheme.size()));
			present = true;
		}
	}
	if (!present) {
		SetJson(res, 401, ErrorBody("", "Unauthorized", "Invalid API key provided!", "invalid_apikey"));
		return false;
	}
	if (Trim(key).empty()) {
		SetJson(res, 401, ErrorBody("", "Unauthorized", "Empty API key provided!", "empty_apikey"));
		return false;
	}
	if (options_.disabled_keys.count(key) > 0) {
		SetJson(
		    res, 401,
		    ErrorBody("", "You API key has been disabled", "Please register for a new API key", "401_key_disabled"));
		return false;
	}
	if (options_.api_keys.count(key) == 0) {
		SetJson(res, 401, ErrorBody("", "API key is invalid", "Please register for an API key", "401_key_invalid"));
		return false;
	}
	return true;
}

void
Server::AddRateLimitHeaders(httplib::Response &res, bool &limited) {
	std::lock_guard<std::mutex> lock(mutex_);
	const RateLimitPlan &plan = config_.ratelimit;
	auto now = std::chrono::steady_clock::now();
	if (!window_started_ || now - window_start_ >= std::chrono::seconds(plan.window_s)) {
		window_start_ = now;
		window_count_ = 0;
		window_started_ = true;
	}
	window_count_++;
	double elapsed = std::chrono::duration<double>(now - window_start_).count();
	int64_t reset = std::max<int64_t>(1, int64_t(std::ceil(double(plan.window_s) - elapsed)));
	int64_t remaining = std::max<int64_t>(0, plan.quota - window_count_);
	limited = plan.enforce && window_count_ > plan.quota;
	res.set_header("RateLimit-Policy",
	               "\"personal\";q=" + std::to_string(plan.quota) + ";w=" + std::to_string(plan.window_s));
	res.set_header("RateLimit", "\"personal\";r=" + std::to_string(remaining) + ";t=" + std::to_string(reset));
	if (limited) {
		fault_counts_["ratelimit"]["429"]++;
	}
}

/* ApplyApiFault answers the request when `kind` replaces the normal answer and returns true; "slow" sleeps and
 * returns false, as do "truncated", "drift" and "shift", which alter the normal answer later. */
bool
Server::ApplyApiFault(const std::string &kind, const httplib::Request &req, httplib::Response &res,
                      const std::string &wskey) {
	if (kind == "ok" || kind == "truncated" || kind == "drift" || kind == "shift") {
		return false;
	}
	FaultConfig config = Config();
	SetFaultNote(kind);
	if (kind == "slow") {
		SleepInterruptible(config.slow_ms);
		return false;
	}
	if (kind == "reset") {
		AbortConnection(req);
		res.status = 500;
		return true;
	}
	if (kind == "503") {
		SetJson(res, 503, ErrorBody(wskey, "Unable to connect to search engine.", "", "503-SA"));
	} else if (kind == "429") {
		SetJson(res, 429, LimitBody(config.ratelimit));
		res.set_header("RateLimit-Policy", "\"personal\";q=" + std::to_string(config.ratelimit.quota) +
		                                       ";w=" + std::to_string(config.ratelimit.window_s));
		res.set_header("RateLimit", "\"personal\";r=0;t=" + std::to_string(config.ratelimit.reset_s));
	} else if (kind == "html502" || kind == "502") {
		res.status = 502;
		res.set_content(
		    HtmlPage("502 Bad Gateway", "The server encountered a temporary error. Please try again later."),
		    "text/html");
	} else if (kind == "html504") {
		res.status = 504;
		res.set_content(HtmlPage("504 Gateway Time-out", "The server didn't respond in time."), "text/html");
	} else if (kind == "html200") {
		res.status = 200;
		res.set_content(HtmlPage("Maintenance", "Europeana APIs are down for scheduled maintenance."), "text/html");
	} else if (kind == "500") {
		SetJson(res, 500, ErrorBody(wskey, "Internal server error", "java.lang.NullPointerException", ""));
	} else if (kind == "504-SA") {
		SetJson(res, 400, ErrorBody(wskey, "Timeout connecting to search engine.", "", "504-SA"));
	} else if (kind == "400-SC") {
		SetJson(res, 400,
		        ErrorBody(
		            wskey,
		            "Invalid cursor value. Please make sure you encode the cursor value before sending it to the API.",
		            "Please make sure you encode the cursor value before sending it to the API.", "400-SC"));
	} else if (kind == "400-SA") {
		SetJson(res, 400, ErrorBody(wskey, "Invalid search query", "undefined field -", "400-SA"));
	} else if (kind == "401") {
		SetJson(res, 401, ErrorBody("", "API key is invalid", "Please register for an API key", "401_key_invalid"));
	} else if (kind == "redirect") {
		std::string query;
		size_t question = req.target.find('?');
		if (question != std::string::npos) {
			query = req.target.substr(question);
		}
		std::string host = req.get_header_value("Host");
		std::string location = (host.empty() ? urls_.api_base : "http://" + host) + "/record/v2/search.json" + query;
		res.status = 301;
		res.set_header("Location", location);
		res.set_content(HtmlPage("301 Moved Permanently", "Moved to " + location), "text/html");
	} else {
		return false;
	}
	return true;
}

void
Server::HandleSearch(const httplib::Request &req, httplib::Response &res) {
	Count("search");
	std::string fault;
	FaultConfig config;
	uint64_t random_counter = 0;
	{
		std::lock_guard<std::mutex> lock(mutex_);
		fault = config_.search.Next();
		config = config_;
		random_counter = ++random_sort_counter_;
	}
	CountFault("search", fault);
	SleepInterruptible(config.latency_ms);
	res.set_header("Allow", "GET, HEAD, POST");

	Params params;
	std::string body_error;
	bool body_ok = CollectParams(req, params, body_error);
	std::string wskey = First(params, "wskey");
	if (ApplyApiFault(fault, req, res, wskey)) {
		return;
	}
	bool truncated = fault == "truncated";
	bool drift = fault == "drift";
	bool shift = fault == "shift";

	/* 1. Parameter binding. */
	if (!body_ok) {
		SetJson(res, 400, ErrorBody(wskey, body_error, "", ""));
		return;
	}
	bool has_query = false;
	std::string query = First(params, "query", &has_query);
	if (!has_query) {
		SetJson(res, 400, ErrorBody(wskey, "Required parameter 'query' missing", "", ""));
		return;
	}
	int rows = 12;
	int start = 1;
	for (const char *name : {"rows", "start"}) {
		bool present = false;
		std::string value = First(params, name, &present);
		if (!present || Trim(value).empty()) {
			continue;
		}
		auto parsed = ParseJavaInt(value);
		if (!parsed) {
			SetJson(res, 400, ErrorBody(wskey, TypeMismatch(value, "int"), "", ""));
			return;
		}
		(std::string(name) == "rows" ? rows : start) = *parsed;
	}
	std::map<std::string, bool> flags;
	for (const char *name : {"media", "thumbnail", "landingpage", "text_fulltext"}) {
		bool present = false;
		std::string value = First(params, name, &present);
		if (!present || Trim(value).empty()) {
			continue;
		}
		auto parsed = ParseSpringBool(value);
		if (!parsed) {
			SetJson(res, 400, ErrorBody(wskey, TypeMismatch(value, "java.lang.Boolean"), "", ""));
			return;
		}
		flags[name] = *parsed;
	}

	/* 2. The key, and the rate-limit window it counts against. */
	std::string key;
	if (!Authenticate(req, res, key)) {
		return;
	}
	bool limited = false;
	AddRateLimitHeaders(res, limited);
	if (limited) {
		SetFaultNote("ratelimit");
		SetJson(res, 429, LimitBody(config.ratelimit));
		return;
	}

	/* 3. Blank query. */
	if (Trim(query).empty()) {
		SetJson(res, 400, ErrorBody(wskey, "Empty search query parameter", "", "400-SE"));
		return;
	}

	/* 4. Cursor and start. */
	bool has_cursor = false;
	std::string cursor = First(params, "cursor", &has_cursor);
	const std::string kBadCursor =
	    "Invalid cursor value. Please make sure you encode the cursor value before sending it to the API.";
	const std::string kBadCursorMessage = "Please make sure you encode the cursor value before sending it to the API.";
	if (has_cursor && start > 1) {
		const std::string text = "Parameters 'start' and 'cursorMark' cannot be used together";
		SetJson(res, 400, ErrorBody(wskey, text, text, "400-SD"));
		return;
	}
	std::optional<std::string> cursor_mark;
	if (has_cursor && cursor != "*") {
		auto decoded = Base64Decode(cursor);
		if (!decoded || !StartsWith(*decoded, kCursorMagic)) {
			SetJson(res, 400, ErrorBody(wskey, kBadCursor, kBadCursorMessage, "400-SC"));
			return;
		}
		cursor_mark = decoded->substr(kCursorMagic.size());
	}

	/* 5. Theme and qf. */
	bool has_theme = false;
	std::string theme = First(params, "theme", &has_theme);
	if (has_theme && !theme.empty()) {
		static const std::set<std::string> kThemes = {"archaeology", "art",       "fashion", "industrial", "manuscript",
		                                              "map",         "migration", "music",   "nature",     "newspaper",
		                                              "photography", "sport",     "ww1"};
		if (!std::all_of(theme.begin(), theme.end(),
		                 [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_'; })) {
			SetJson(res, 400, ErrorBody(wskey, "Invalid theme: " + theme, "", "400-SU"));
			return;
		}
		if (kThemes.count(theme) == 0) {
			SetJson(res, 400, ErrorBody(wskey, "Theme not found: " + theme, "", "400-ST"));
			return;
		}
	}
	std::vector<std::unique_ptr<QueryNode>> filters;
	for (const std::string &qf : All(params, "qf")) {
		if (Trim(qf).empty()) {
			continue;
		}
		ParsedQuery parsed = ParseQuery(qf, dataset_);
		if (!parsed.root) {
			SetJson(res, 400, ErrorBody(wskey, "Invalid search query", parsed.error, "400-SA"));
			return;
		}
		filters.push_back(std::move(parsed.root));
	}

	/* 6. What Solr would reject. */
	std::string rewritten = query;
	for (size_t pos = rewritten.find(":https://"); pos != std::string::npos; pos = rewritten.find(":https://", pos)) {
		rewritten.replace(pos, 9, ":http://");
	}
	ParsedQuery parsed_query = ParseQuery(rewritten, dataset_);
	if (!parsed_query.root) {
		SetJson(res, 400, ErrorBody(wskey, "Invalid search query", parsed_query.error, "400-SA"));
		return;
	}
	if (rows < 0) {
		SetJson(res, 400, ErrorBody(wskey, "Invalid search query", "'rows' parameter cannot be negative", "400-SA"));
		return;
	}
	rows = std::min(rows, kRowLimit);
	start = std::max(start, 1);
	if (!has_cursor && int64_t(start - 1) + rows > kSearchLimit) {
		const std::string text = "It is not possible to paginate beyond the first 1000 search results. Please use "
		                         "cursor-based pagination instead";
		SetJson(res, 400, ErrorBody(wskey, text, text, "400-SL"));
		return;
	}
	std::string sort_text;
	for (const std::string &value : All(params, "sort")) {
		sort_text += (sort_text.empty() ? "" : ",") + value;
	}
	std::vector<SortKey> sort_keys;
	std::string sort_error;
	if (!ParseSort(sort_text, random_counter, sort_keys, sort_error)) {
		SetJson(res, 400, ErrorBody(wskey, "Invalid search query", sort_error, "400-SA"));
		return;
	}
	bool sorts_by_id = std::any_of(sort_keys.begin(), sort_keys.end(),
	                               [](const SortKey &k) { return k.field == SortKey::Field::kId; });
	if (has_cursor && !sort_keys.empty() && !sorts_by_id) {
		SetJson(res, 400,
		        ErrorBody(wskey, "Invalid search query",
		                  "Cursor functionality requires a sort containing a uniqueKey field tie breaker", "400-SA"));
		return;
	}
	if (sort_keys.empty()) {
		sort_keys.push_back(SortKey {SortKey::Field::kId, true, ""});
	}

	std::set<std::string> reusability;
	for (const std::string &value : All(params, "reusability")) {
		for (const std::string &word : SplitAny(value, ", +")) {
			std::string lower = ToLower(word);
			if (lower == "open" || lower == "restricted" || lower == "permission" || lower == "uncategorized") {
				reusability.insert(lower);
			}
		}
	}

	/* Execute. */
	std::vector<const Record *> hits;
	for (const Record &record : dataset_.Records()) {
		if (!Matches(*parsed_query.root, record)) {
			continue;
		}
		bool keep = std::all_of(filters.begin(), filters.end(),
		                        [&](const std::unique_ptr<QueryNode> &f) { return Matches(*f, record); });
		if (!keep || (!reusability.empty() && reusability.count(record.reusability) == 0)) {
			continue;
		}
		if ((flags.count("media") && !flags["media"]) ||
		    (flags.count("thumbnail") && flags["thumbnail"] != record.has_thumbnail) ||
		    (flags.count("text_fulltext") && flags["text_fulltext"]) ||
		    (flags.count("landingpage") && !flags["landingpage"])) {
			continue;
		}
		hits.push_back(&record);
	}
	RecordOrder order(sort_keys);
	std::sort(hits.begin(), hits.end(), order);

	size_t begin = size_t(start - 1);
	if (cursor_mark) {
		Record mark_holder;
		const Record *mark = dataset_.FindById(*cursor_mark);
		if (mark == nullptr) {
			mark_holder.id = *cursor_mark;
			mark = &mark_holder;
		}
		begin = size_t(std::upper_bound(hits.begin(), hits.end(), mark, order) - hits.begin());
	} else if (has_cursor) {
		begin = 0;
	}
	if (shift && begin > 0) {
		begin--; /* §13.10: an index that moved under an offset or cursor repeats a record */
	}
	size_t end = std::min(hits.size(), begin + size_t(rows));
	begin = std::min(begin, end);

	std::string profile_text = ToLower(First(params, "profile"));
	Profile profile = Profile::kStandard;
	if (profile_text.find("minimal") != std::string::npos) {
		profile = Profile::kMinimal;
	} else if (profile_text.find("rich") != std::string::npos) {
		profile = Profile::kRich;
	}
	std::vector<std::string> profile_words = SplitAny(profile_text, ", +");
	bool want_facets = std::any_of(profile_words.begin(), profile_words.end(),
	                               [](const std::string &w) { return w == "facets" || w == "portal"; });

	ordered_json body;
	body["apikey"] = key;
	body["success"] = true;
	body["requestNumber"] = 999;
	body["itemsCount"] = end - begin;
	body["totalResults"] = hits.size() + (drift ? 7 : 0);
	if (has_cursor && end > begin) {
		body["nextCursor"] = Base64Encode(kCursorMagic + hits[end - 1]->id);
	}
	ordered_json items = ordered_json::array();
	for (size_t i = begin; i < end; i++) {
		items.push_back(ordered_json(SearchItem(*hits[i], dataset_, urls_, key, profile)));
	}
	body["items"] = items;
	if (want_facets) {
		body["facets"] = Facets(hits);
	}
	if (drift || shift) {
		SetFaultNote(fault);
	}
	if (truncated) {
		SetFaultNote("truncated");
	}

	std::string text = body.dump(-1, ' ', false, json::error_handler_t::replace);
	std::string callback = First(params, "callback");
	if (ValidCallback(callback)) {
		SendBody(res, 200, callback + "(" + text + ");", "application/javascript;charset=UTF-8", truncated);
		return;
	}
	SendBody(res, 200, text, kJsonType, truncated);
}

void
Server::HandleRecord(const httplib::Request &req, httplib::Response &res) {
	Count("record");
	std::string fault;
	{
		std::lock_guard<std::mutex> lock(mutex_);
		fault = config_.record.Next();
	}
	CountFault("record", fault);
	std::string wskey = req.has_param("wskey") ? req.get_param_value("wskey") : std::string();
	if (ApplyApiFault(fault, req, res, wskey)) {
		return;
	}
	std::string key;
	if (!Authenticate(req, res, key)) {
		return;
	}
	bool limited = false;
	AddRateLimitHeaders(res, limited);
	if (limited) {
		SetFaultNote("ratelimit");
		SetJson(res, 429, LimitBody(Config().ratelimit));
		return;
	}
	std::string id = "/" + std::string(req.matches[1]) + "/" + std::string(req.matches[2]);
	const Record *record = dataset_.FindById(id);
	if (record == nullptr) {
		SetJson(res, 404, ErrorBody(key, "Invalid record identifier: " + id, "", ""));
		return;
	}
	ordered_json body;
	body["apikey"] = key;
	body["success"] = true;
	body["statsDuration"] = 5 + Bucket("stats", id, 60);
	body["requestNumber"] = 999;
	body["object"] = ordered_json(RecordObject(*record, dataset_, urls_));
	std::string text = body.dump(-1, ' ', false, json::error_handler_t::replace);
	std::string etag = "W/\"" + Md5Hex(text).substr(0, 16) + "\"";
	res.set_header("ETag", etag);
	res.set_header("Cache-Control", "public, max-age=86400");
	res.set_header("Last-Modified", HttpDate(record->updated_ms / 1000));
	if (req.get_header_value("If-None-Match") == etag) {
		res.status = 304;
		return;
	}
	if (fault == "truncated") {
		SetFaultNote("truncated");
	}
	SendBody(res, 200, text, kJsonType, fault == "truncated");
}

} // namespace europeana::fake
