/*
 * search_client.cpp — Europeana Search API requests, response parsing, retries and paging.
 *
 * Response handling follows what the server is known to send (shared/docs/europeana-api.md
 * §4-§7, §13): any item field may be missing, nearly every field is an array but some are
 * plain strings, error bodies carry `success:false` with an `error`, `message` and `code`,
 * a Solr timeout comes back as HTTP 400 with code 504-SA, an unknown key may come back as
 * 400 with code 401_key_invalid, and gateway failures may be HTML pages.  The HTTP status
 * alone therefore does not decide what to do; the API's code, when there is one, does.
 */
#include "core/api/search_client.hpp"

#include "core/common/error.hpp"
#include "core/common/strings.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <utility>

namespace europeana::core {

namespace {

using Json = nlohmann::json;

constexpr const char kApiKeyHint[] =
    "Check europeana.api_key: it must hold a valid Europeana API key (keys come with a Europeana account, see "
    "https://pro.europeana.eu/pages/get-api).";
constexpr const char kSort[] = "europeana_id+asc";
constexpr int kMaxRows = 100;
constexpr size_t kMaxServerText = 300;
/* Shorter keys are not replaced literally: they could match ordinary text in the data. */
constexpr size_t kMinLiteralKeyLength = 6;

const char *const kReusabilityValues[] = {"open", "restricted", "permission", "uncategorized"};
const char *const kProfileValues[] = {"minimal", "standard", "rich", "facets",   "portal",
                                      "params",  "debug",    "hits", "spelling", "translate"};

bool
IsBlank(const std::string &text) {
	return std::all_of(text.begin(), text.end(), [](char c) { return std::isspace(static_cast<unsigned char>(c)); });
}

/* Percent-encodes everything except RFC 3986 unreserved characters and '*' (which needs no
 * encoding in a query and keeps "query=*" and "cursor=*" readable). */
std::string
PercentEncode(const std::string &value) {
	static const char kHex[] = "0123456789ABCDEF";
	std::string out;
	out.reserve(value.size() * 3);
	for (char ch : value) {
		const auto c = static_cast<unsigned char>(ch);
		if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '*') {
			out.push_back(ch);
		} else {
			out.push_back('%');
			out.push_back(kHex[c >> 4]);
			out.push_back(kHex[c & 0xF]);
		}
	}
	return out;
}

/* Splits on commas, spaces and '+', the separators the API accepts in list parameters. */
std::vector<std::string>
SplitList(const std::string &text) {
	std::vector<std::string> out;
	std::string token;
	for (char c : text + ",") {
		if (c == ',' || c == '+' || std::isspace(static_cast<unsigned char>(c))) {
			if (!token.empty()) {
				out.push_back(token);
			}
			token.clear();
		} else {
			token.push_back(c);
		}
	}
	return out;
}

template <size_t N>
bool
IsOneOf(const std::string &value, const char *const (&allowed)[N]) {
	return std::any_of(std::begin(allowed), std::end(allowed), [&](const char *a) { return value == a; });
}

/* Removes the value of every `name=` query parameter (case-insensitive), together with the
 * `name=` itself and one separator, so "…?a=1&wskey=K" becomes "…?a=1" and "…?wskey=K&a=1"
 * becomes "…?a=1". */
void
RemoveParameter(std::string &text, const std::string &name) {
	if (text.find('=') == std::string::npos) {
		return; /* the common case: no parameter at all */
	}
	const std::string needle = name + "=";
	size_t from = 0;
	for (;;) {
		const size_t pos = AsciiLower(text).find(needle, from);
		if (pos == std::string::npos) {
			return;
		}
		const char before = pos == 0 ? '\0' : text[pos - 1];
		if (std::isalnum(static_cast<unsigned char>(before)) || before == '_') {
			from = pos + needle.size(); /* part of a longer name, e.g. "xwskey=" */
			continue;
		}
		size_t end = text.find_first_of("&# \t\r\n\"'", pos + needle.size());
		if (end == std::string::npos) {
			end = text.size();
		}
		size_t begin = pos;
		if (before == '&') {
			begin = pos - 1;
		} else if (before == '?') {
			if (end < text.size() && text[end] == '&') {
				end++; /* keep '?', drop the following '&' */
			} else {
				begin = pos - 1;
			}
		}
		text.erase(begin, end - begin);
		from = begin;
	}
}

/* ScrubKey removes wskey=… and utm_campaign=… parameters (where the API echoes the key)
 * and any literal occurrence of the key from `text`. */
std::string
ScrubKey(std::string text, const std::string &api_key) {
	RemoveParameter(text, "wskey");
	RemoveParameter(text, "utm_campaign");
	if (api_key.size() >= kMinLiteralKeyLength) {
		size_t pos = 0;
		while ((pos = text.find(api_key, pos)) != std::string::npos) {
			text.replace(pos, api_key.size(), "***");
			pos += 3;
		}
	}
	return text;
}

void
ScrubJson(Json &value, const std::string &api_key) {
	if (value.is_string()) {
		value = ScrubKey(value.get<std::string>(), api_key);
	} else if (value.is_array() || value.is_object()) {
		for (auto &child : value) {
			ScrubJson(child, api_key);
		}
	}
}

/* FirstString reads the first non-empty scalar: a string as is, a number or boolean as
 * JSON text, the first usable element of an array, and for an object (a language map such
 * as {"def":[…]} or a label {"def":"…"}) the "def" entry, else the first usable entry. */
std::string
FirstString(const Json &value) {
	if (value.is_string()) {
		return value.get<std::string>();
	}
	if (value.is_number() || value.is_boolean()) {
		return value.dump();
	}
	if (value.is_object()) {
		auto def = value.find("def");
		if (def != value.end()) {
			std::string text = FirstString(*def);
			if (!text.empty()) {
				return text;
			}
		}
	}
	if (value.is_array() || value.is_object()) {
		for (const auto &child : value) {
			std::string text = FirstString(child);
			if (!text.empty()) {
				return text;
			}
		}
	}
	return {};
}

std::string
Field(const Json &item, const char *key) {
	auto found = item.find(key);
	return found == item.end() ? std::string() : FirstString(*found);
}

void
AllStrings(const Json &value, std::vector<std::string> *out) {
	if (value.is_string()) {
		if (!value.get_ref<const std::string &>().empty()) {
			out->push_back(value.get<std::string>());
		}
	} else if (value.is_array()) {
		for (const auto &child : value) {
			AllStrings(child, out);
		}
	}
}

/* ParseItem turns one element of `items` into a SearchItem; false when it is not an
 * object or has no id (nothing could identify or de-duplicate it). */
bool
ParseItem(const Json &raw, const std::string &api_key, SearchItem *item) {
	if (!raw.is_object()) {
		return false;
	}
	Json copy = raw;
	copy.erase("guid");
	copy.erase("link");
	copy.erase("apikey");
	ScrubJson(copy, api_key);

	item->id = Field(copy, "id");
	if (item->id.empty()) {
		return false;
	}
	item->title = Field(copy, "title");
	if (item->title.empty()) {
		item->title = Field(copy, "dcTitleLangAware");
	}
	item->data_provider = Field(copy, "dataProvider");
	item->provider = Field(copy, "provider");
	item->country = Field(copy, "country");
	item->rights = Field(copy, "rights");
	item->type = Field(copy, "type");
	item->year = Field(copy, "year");
	item->is_shown_by = Field(copy, "edmIsShownBy");
	item->is_shown_at = Field(copy, "edmIsShownAt");
	item->preview = Field(copy, "edmPreview");
	auto concepts = copy.find("edmConcept");
	if (concepts != copy.end()) {
		AllStrings(*concepts, &item->concepts);
	}
	item->json = copy.dump(-1, ' ', false, Json::error_handler_t::replace);
	return true;
}

/* A failure worth another attempt. */
struct RetryableFailure {
	std::string description;
	std::optional<std::chrono::milliseconds> server_wait; /* what the server asked for (429) */
};

std::string
TextField(const Json &body, const char *key) {
	auto found = body.find(key);
	if (found == body.end() || found->is_null()) {
		return {};
	}
	return found->is_string() ? found->get<std::string>() : found->dump();
}

std::string
Truncate(std::string text) {
	if (text.size() > kMaxServerText) {
		text.resize(kMaxServerText);
		text += "...";
	}
	return text;
}

/* "error; message", skipping the message when the error already says it. */
std::string
ServerText(const std::string &error, const std::string &message) {
	if (message.empty() || error.find(message) != std::string::npos) {
		return error;
	}
	if (error.empty()) {
		return message;
	}
	return error + "; " + message;
}

/* The status an API code stands for: its leading three digits ("400-SC" -> 400, "504-SA" ->
 * 504, "401_key_invalid" -> 401), 401 for the code-less key errors, else 0. */
int
CodeStatus(const std::string &code) {
	if (code.size() >= 3 && std::all_of(code.begin(), code.begin() + 3, [](char c) { return c >= '0' && c <= '9'; })) {
		return std::stoi(code.substr(0, 3));
	}
	const std::string lowered = AsciiLower(code);
	if (lowered.find("apikey") != std::string::npos || lowered.find("api_key") != std::string::npos) {
		return 401;
	}
	return 0;
}

/* The longest wait a 429 response asks for: the largest t=<seconds> of the RateLimit header
 * (draft ratelimit-headers syntax, possibly several policies), else a delta-seconds
 * Retry-After. */
std::optional<std::chrono::milliseconds>
ServerWait(const HttpResponse &response) {
	std::optional<std::chrono::milliseconds> wait;
	auto rate_limit = response.headers.find("ratelimit");
	if (rate_limit != response.headers.end()) {
		const std::string &text = rate_limit->second;
		for (size_t pos = text.find("t="); pos != std::string::npos; pos = text.find("t=", pos + 2)) {
			const char before = pos == 0 ? ';' : text[pos - 1];
			if (before != ';' && before != ' ' && before != ',') {
				continue;
			}
			size_t end = pos + 2;
			int64_t seconds = 0;
			while (end < text.size() && std::isdigit(static_cast<unsigned char>(text[end])) && seconds < 10000000) {
				seconds = seconds * 10 + (text[end] - '0');
				end++;
			}
			if (end > pos + 2 && (!wait || std::chrono::seconds(seconds) > *wait)) {
				wait = std::chrono::seconds(seconds);
			}
		}
	}
	auto retry_after = response.headers.find("retry-after");
	if (!wait && retry_after != response.headers.end()) {
		const std::string &text = retry_after->second;
		if (!text.empty() && text.size() < 8 &&
		    std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
			wait = std::chrono::seconds(std::stoll(text));
		}
	}
	return wait;
}

/* "HTTP 503 (503-SA): Unable to connect to search engine." */
std::string
Describe(long status, const std::string &code, const std::string &text) {
	return "HTTP " + std::to_string(status) + (code.empty() ? "" : " (" + code + ")") +
	       (text.empty() ? "" : ": " + text);
}

/*
 * Classify handles a response that is not a search result, given the status it stands for
 * (`effective`: the HTTP status, or the one the API's code names).  Throws
 * Error(InvalidInput) for a rejected key or request; fills *failure for 408, 429 and 5xx.
 */
void
Classify(int effective, const HttpResponse &response, const std::string &code, const std::string &text,
         RetryableFailure *failure) {
	const long status = response.status;
	const std::string status_label = "HTTP " + std::to_string(status);
	const std::string suffix = text.empty() ? "" : ": " + text;
	if (effective == 401 || effective == 403) {
		/* Name both when they disagree (the key error some deployments send with HTTP 400). */
		std::string label = code;
		if (code.empty()) {
			label = status_label;
		} else if (CodeStatus(code) != status) {
			label = status_label + ", " + code;
		}
		throw Error(ErrorKind::InvalidInput, "Europeana API key rejected (" + label + ")" + suffix, kApiKeyHint);
	}
	if (effective == 429) {
		failure->server_wait = ServerWait(response);
		failure->description = "rate limited, " + Describe(status, code, text);
		if (failure->server_wait) {
			failure->description +=
			    "; the limit resets in " + std::to_string(failure->server_wait->count() / 1000) + " s";
		}
		return;
	}
	if (effective == 408 || effective >= 500) {
		failure->description = Describe(status, code, text);
		return;
	}
	throw Error(ErrorKind::InvalidInput,
	            "Europeana API rejected the request (" + (code.empty() ? status_label : code) + ")" + suffix,
	            "Check the query (Solr syntax), the qf filters and the reusability values; the API's own message is "
	            "quoted above.");
}

/* ParsePage reads a success envelope; false (with *failure set) when it is not one. */
bool
ParsePage(const Json &body, const std::string &api_key, SearchPage *page, RetryableFailure *failure) {
	auto items = body.find("items");
	if (items != body.end() && !items->is_array() && !items->is_null()) {
		failure->description = "malformed search response: \"items\" is not an array";
		return false;
	}
	auto total = body.find("totalResults");
	if (total != body.end() && total->is_number()) {
		page->total_results = total->get<int64_t>();
	}
	auto next = body.find("nextCursor");
	if (next != body.end() && next->is_string() && !next->get_ref<const std::string &>().empty()) {
		page->next_cursor = next->get<std::string>();
	}
	if (items != body.end() && items->is_array()) {
		page->items.reserve(items->size());
		for (const auto &raw : *items) {
			SearchItem item;
			if (ParseItem(raw, api_key, &item)) {
				page->items.push_back(std::move(item));
			} else {
				page->skipped_items++;
			}
		}
	}
	return true;
}

/*
 * EvaluateResponse decides what one HTTP response means: true with *page filled for a
 * search result; false with *failure filled for a transient failure; throws
 * Error(InvalidInput) for a request or key the API rejected.  All server text is scrubbed
 * of the key and shortened before it reaches a message.
 */
bool
EvaluateResponse(const HttpResponse &response, const std::string &api_key, SearchPage *page,
                 RetryableFailure *failure) {
	const long status = response.status;
	const std::string content_type = AsciiLower(response.content_type);
	const bool declared_json = content_type.find("json") != std::string::npos;
	const bool declared_other = !content_type.empty() && !declared_json;

	Json body;
	if (!declared_other) {
		body = Json::parse(response.body, nullptr, false);
	}
	if (declared_other || body.is_discarded() || !body.is_object()) {
		const std::string what = declared_other ? "a non-JSON body (" + Truncate(response.content_type) + ")"
		                                        : "a body that is not a JSON object";
		if (status >= 200 && status < 300) {
			failure->description = Describe(status, "", "") + " with " + what;
			return false;
		}
		Classify(static_cast<int>(status), response, "", "response with " + what, failure);
		return false;
	}

	const auto success = body.find("success");
	const bool succeeded = success == body.end() || !success->is_boolean() || success->get<bool>();
	if (status >= 200 && status < 300 && succeeded) {
		return ParsePage(body, api_key, page, failure);
	}

	const std::string code = Truncate(ScrubKey(TextField(body, "code"), api_key));
	const std::string text =
	    Truncate(ScrubKey(ServerText(TextField(body, "error"), TextField(body, "message")), api_key));
	int effective = CodeStatus(code);
	if (effective == 0) {
		/* No usable code: an error status speaks for itself; success:false on a 2xx is an
		 * explicit refusal. */
		effective = status >= 200 && status < 300 ? 400 : static_cast<int>(status);
	}
	Classify(effective, response, code, text, failure);
	return false;
}

} // namespace

std::string
BuildSearchUrl(const SearchQuery &query, const std::string &cursor) {
	if (IsBlank(query.base_url)) {
		throw Error(ErrorKind::InvalidInput, "the Europeana search URL is empty",
		            "Set europeana.api_url to the Search API endpoint, e.g. "
		            "https://api.europeana.eu/record/v2/search.json.");
	}
	if (IsBlank(query.query)) {
		throw Error(ErrorKind::InvalidInput, "the search query is empty", "Use \"*\" to match every record.");
	}
	if (query.rows < 1) {
		throw Error(ErrorKind::InvalidInput, "rows per page must be at least 1, not " + std::to_string(query.rows));
	}
	std::vector<std::string> reusability;
	for (const auto &entry : query.reusability) {
		for (const auto &token : SplitList(entry)) {
			const std::string value = AsciiLower(token);
			if (!IsOneOf(value, kReusabilityValues)) {
				throw Error(ErrorKind::InvalidInput, "unknown reusability value \"" + token + "\"",
				            "Use open, restricted, permission or uncategorized.");
			}
			if (std::find(reusability.begin(), reusability.end(), value) == reusability.end()) {
				reusability.push_back(value);
			}
		}
	}
	for (const auto &token : SplitList(query.profile)) {
		if (!IsOneOf(AsciiLower(token), kProfileValues)) {
			throw Error(ErrorKind::InvalidInput, "unknown search profile \"" + token + "\"",
			            "Use minimal, standard or rich, optionally with facets.");
		}
	}

	std::string url = query.base_url;
	const char last = url.back();
	if (last != '?' && last != '&') {
		url += url.find('?') == std::string::npos ? '?' : '&';
	}
	url += "query=" + PercentEncode(query.query);
	for (const auto &filter : query.qf) {
		url += "&qf=" + PercentEncode(filter);
	}
	if (!reusability.empty()) {
		std::string joined;
		for (const auto &value : reusability) {
			joined += (joined.empty() ? "" : ",") + value;
		}
		url += "&reusability=" + PercentEncode(joined);
	}
	if (query.media) {
		url += "&media=true";
	}
	url += "&rows=" + std::to_string(std::min(query.rows, kMaxRows));
	if (!IsBlank(query.profile)) {
		url += "&profile=" + PercentEncode(query.profile);
	}
	url += "&sort=";
	url += kSort;
	url += "&cursor=" + PercentEncode(cursor.empty() ? "*" : cursor);
	return url;
}

SearchClient::SearchClient(HttpClient &http, Clock &clock, RetryPolicy policy)
    : http_(http), clock_(clock), policy_(policy), rng_(EffectiveSeed(policy)) {
}

SearchPage
SearchClient::FetchPage(const SearchQuery &query, const std::string &cursor, const ShouldStop &should_stop) {
	if (IsBlank(query.api_key)) {
		throw Error(ErrorKind::InvalidInput, "no Europeana API key is configured", kApiKeyHint);
	}
	HttpRequest request;
	request.url = BuildSearchUrl(query, cursor);
	request.headers = {{"X-Api-Key", query.api_key}, {"Accept", "application/json"}};
	request.connect_timeout_ms = query.connect_timeout_ms;
	request.total_timeout_ms = query.total_timeout_ms;

	const int max_attempts = std::max(1, policy_.max_attempts);
	std::string last_failure;
	for (int attempt = 1;; attempt++) {
		if (should_stop && should_stop()) {
			throw Error(ErrorKind::Cancelled, "cancelled while requesting a Europeana search page");
		}
		RetryableFailure failure;
		try {
			const HttpResponse response = http_.Get(request, should_stop);
			SearchPage page;
			if (EvaluateResponse(response, query.api_key, &page, &failure)) {
				page.attempts = attempt;
				return page;
			}
		} catch (const Error &e) {
			if (e.Kind() != ErrorKind::Unavailable) {
				throw;
			}
			failure.description = ScrubKey(e.what(), query.api_key);
		}
		last_failure = std::move(failure.description);
		if (attempt >= max_attempts) {
			break;
		}
		std::chrono::milliseconds delay = RetryDelay(policy_, attempt, rng_);
		if (failure.server_wait && failure.server_wait->count() > 0) {
			delay = std::min(*failure.server_wait, policy_.max_delay);
		}
		clock_.SleepFor(delay, should_stop);
	}
	throw Error(ErrorKind::Unavailable,
	            "Europeana API unavailable after " + std::to_string(max_attempts) +
	                (max_attempts == 1 ? " attempt" : " attempts") + "; last failure: " + last_failure,
	            "Try again later. If it persists, check that europeana.api_url is reachable from the database server; "
	            "europeana.http_timeout_ms bounds each request.");
}

CursorPager::CursorPager(SearchClient &client, SearchQuery query, std::string start_cursor, size_t max_records)
    : client_(client), query_(std::move(query)), cursor_(start_cursor.empty() ? "*" : std::move(start_cursor)),
      max_records_(max_records) {
}

/*
 * Next fetches pages until one holds an item not returned before, or the walk ends.
 * Cursor() moves only after a page has been fully handed out, so what a caller persists
 * after each returned page is always a safe resume point.
 */
bool
CursorPager::Next(SearchPage *out, const ShouldStop &should_stop) {
	while (!done_) {
		if (seen_ >= max_records_) {
			done_ = true;
			break;
		}
		SearchPage page = client_.FetchPage(query_, cursor_, should_stop);
		used_cursors_.insert(cursor_);
		const bool empty_page = page.items.empty() && page.skipped_items == 0;

		std::vector<SearchItem> fresh;
		bool cut = false;
		for (auto &item : page.items) {
			if (seen_ids_.count(item.id) != 0) {
				continue;
			}
			if (seen_ + fresh.size() >= max_records_) {
				cut = true;
				break;
			}
			seen_ids_.insert(item.id);
			fresh.push_back(std::move(item));
		}
		seen_ += fresh.size();

		const bool has_next = page.next_cursor.has_value();
		if (cut || empty_page || !has_next || used_cursors_.count(*page.next_cursor) != 0) {
			/* Cut: resuming must re-read this page, so the cursor stays.  Otherwise there is
			 * no further page, and this page's cursor is where later records would appear. */
			done_ = true;
		} else {
			cursor_ = *page.next_cursor;
		}
		if (seen_ >= max_records_) {
			done_ = true;
		}
		if (!fresh.empty()) {
			page.items = std::move(fresh);
			*out = std::move(page);
			return true;
		}
	}
	return false;
}

} // namespace europeana::core
