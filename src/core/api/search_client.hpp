/*
 * search_client.hpp — one page of the Europeana Search API, and cursor paging over pages.
 *
 * SearchClient::FetchPage sends one search request through an HttpClient and turns the
 * answer into plain structs.  Transient failures (transport errors, HTTP 5xx, gateway
 * pages that are not JSON, 429 rate limiting, the API's 5xx-coded errors) are retried with
 * backoff through the Clock seam; requests the API rejects (400 codes, bad API key) fail
 * at once.  CursorPager walks the deep-paging cursor, de-duplicates items by id and knows
 * when to stop.
 *
 * The API key is sent only in the X-Api-Key header, never in a URL, and is removed from
 * everything returned: error messages, and each item's stored JSON (the API echoes it in
 * `apikey`, `link` (?wskey=) and `guid` (utm_campaign=)).
 *
 * Threading and memory: no globals; a SearchClient and its HttpClient belong to one thread.
 * Nothing here calls PostgreSQL or logs; every wait goes through Clock::SleepFor, which
 * polls ShouldStop, and cancellation surfaces as Error(ErrorKind::Cancelled).
 */
#pragma once

#include "core/api/retry_policy.hpp"
#include "core/common/interrupt.hpp"
#include "core/common/no_postgres.hpp"
#include "core/http/http_client.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <unordered_set>
#include <vector>

namespace europeana::core {

struct SearchQuery {
	std::string base_url; /* e.g. https://api.europeana.eu/record/v2/search.json */
	std::string api_key;
	std::string query = "*";
	std::vector<std::string> qf;          /* each sent as its own qf= */
	std::vector<std::string> reusability; /* open, restricted, permission, uncategorized */
	bool media = true;                    /* false omits the filter (media=false would select items without media) */
	int rows = 100;                       /* 1..100; the API caps larger values at 100 */
	std::string profile = "standard";
	long connect_timeout_ms = 10000; /* per HTTP request, passed to HttpRequest */
	long total_timeout_ms = 30000;
};

struct SearchItem {
	/* First non-empty value of each field; arrays, plain strings and {"def":[...]} maps are
	 * all accepted, and a missing field is an empty string. */
	std::string id, title, data_provider, provider, country, rights, type, year, is_shown_by, is_shown_at, preview;
	std::vector<std::string> concepts; /* edmConcept URIs */
	/* The item as the API sent it, re-serialised without guid, link and apikey, with every
	 * wskey=... and utm_campaign=... parameter removed from every string value and any
	 * other literal occurrence of the key (of 6 or more characters) replaced by "***".  The
	 * fields above are read from this scrubbed copy. */
	std::string json;
};

struct SearchPage {
	std::vector<SearchItem> items;
	int64_t total_results = 0;
	std::optional<std::string> next_cursor; /* absent when the API sent none (or an empty one) */
	int attempts = 1;                       /* HTTP requests this page took */
	int skipped_items = 0;                  /* entries of `items` that were not objects with an id */
};

/*
 * BuildSearchUrl returns base_url plus the query string for `cursor` ("*" to start; empty
 * means "*").  Every value is percent-encoded (RFC 3986 unreserved characters kept), so a
 * base64 cursor's + / = survive.  Parameters: query, one qf per filter, reusability joined
 * with commas, media=true when asked, rows, profile, sort=europeana_id+asc, cursor.  The
 * key is not part of it.  Throws Error(InvalidInput) for an empty base URL or query, rows
 * below 1, and an unknown reusability or profile value (the API would silently ignore a
 * typo there and drop the filter).
 */
std::string BuildSearchUrl(const SearchQuery &query, const std::string &cursor);

class SearchClient {
public:
	SearchClient(HttpClient &http, Clock &clock, RetryPolicy policy = {});

	/*
	 * FetchPage requests the page that `cursor` names, retrying transient failures up to
	 * policy.max_attempts in total.  Between attempts it sleeps through the Clock: the
	 * RateLimit header's t=<seconds> (or Retry-After) for a 429, capped at
	 * policy.max_delay, otherwise a full-jitter backoff.  Throws Error with
	 *  - InvalidInput: missing API key, the API rejected the request (message names the
	 *    API's code and error text) or the key (hint says to check europeana.api_key);
	 *  - Unavailable: every attempt failed transiently (message names the last failure);
	 *  - Cancelled: should_stop said stop, during a request or a wait.
	 */
	SearchPage FetchPage(const SearchQuery &query, const std::string &cursor, const ShouldStop &should_stop);

private:
	HttpClient &http_;
	Clock &clock_;
	RetryPolicy policy_;
	std::mt19937_64 rng_;
};

/*
 * CursorPager walks a search from `start_cursor` page by page.  It stops when a page has
 * no nextCursor, when a page is empty (the API's trailing empty page), when a cursor
 * repeats, or once `max_records` unique items were returned (the last page is cut).
 * Items whose id was already returned are dropped; a page left empty that way is skipped,
 * not returned.  The ids seen are kept in memory (about 100 bytes each).
 *
 * Cursor() is where to resume: the cursor that produces the first page not yet fully
 * returned.  After a cut page it is that page's own cursor; once the walk is finished it
 * is the cursor of the last request (for the trailing empty page, the point where records
 * indexed later would appear).  A failed Next() throws and leaves Cursor() unchanged, so a
 * caller can persist Cursor() after each page and continue after a crash or an error.
 */
class CursorPager {
public:
	CursorPager(SearchClient &client, SearchQuery query, std::string start_cursor = "*", size_t max_records = SIZE_MAX);

	/* Fills *out with the next page of new items and returns true, or returns false when
	 * the walk is over.  Throws what SearchClient::FetchPage throws. */
	bool Next(SearchPage *out, const ShouldStop &should_stop);

	const std::string &
	Cursor() const noexcept {
		return cursor_;
	}
	/* Unique items returned so far. */
	size_t
	Seen() const noexcept {
		return seen_;
	}
	bool
	Done() const noexcept {
		return done_;
	}

private:
	SearchClient &client_;
	SearchQuery query_;
	std::string cursor_;
	size_t max_records_;
	size_t seen_ = 0;
	bool done_ = false;
	std::unordered_set<std::string> seen_ids_;
	std::unordered_set<std::string> used_cursors_;
};

} // namespace europeana::core
