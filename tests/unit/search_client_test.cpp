/*
 * search_client_test.cpp — unit tests for the Europeana search client, cursor pager,
 * retry policy and rights categorisation.
 *
 * A scripted fake HttpClient plays the API and a fake Clock records every wait instead of
 * sleeping, so retry and backoff behaviour is checked exactly and the suite runs in
 * milliseconds.  The response bodies of the API spec's §12 examples are copied verbatim.
 */
#include "core/api/retry_policy.hpp"
#include "core/api/rights.hpp"
#include "core/api/search_client.hpp"

#include "core/common/error.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace europeana::core {
namespace {

using std::chrono::milliseconds;

/* §12 (a): the first page of a search, two items. */
const char kExampleA[] =
    R"json({"apikey":"demoKey1","success":true,"requestNumber":999,"itemsCount":2,"totalResults":48213,
 "nextCursor":"AoJ4kPq7s5EDPxkvOTIwMTgvaXRlbV9BQjEyQ0QzNA==",
 "items":[
  {"completeness":10,"country":["Netherlands"],"dataProvider":["Stadsarchief Voorbeeld"],
   "dcCreator":["Fotograaf onbekend"],"dcCreatorLangAware":{"def":["Fotograaf onbekend"]},
   "dcDescription":["Gezicht op de haven.&nbsp;\n          Achtergrond: pakhuizen."],
   "dcDescriptionLangAware":{"nl":["Gezicht op de haven.&nbsp;\n          Achtergrond: pakhuizen."]},
   "dcTitleLangAware":{"nl":["Haven bij avond"]},
   "edmConcept":["http://data.europeana.eu/concept/48"],
   "edmConceptLabel":[{"def":"Fotografie"},{"def":"Photograph"}],
   "edmConceptPrefLabelLangAware":{"nl":["Fotografie"],"en":["Photograph"]},
   "edmDatasetName":["92018_Ag_NL_Voorbeeld"],
   "edmIsShownAt":["http://archief.example.nl/detail/1234"],
   "edmIsShownBy":["http://images.example.nl/fullsize/ab12cd34.jpg"],
   "edmPreview":["https://api.europeana.eu/thumbnail/v2/url.json?uri=http%3A%2F%2Fimages.example.nl%2F640x480%2Fab12cd34.jpg&type=IMAGE"],
   "edmTimespanLabel":[{"def":"20th century"}],
   "europeanaCollectionName":["92018_Ag_NL_Voorbeeld"],"europeanaCompleteness":10,
   "guid":"https://www.europeana.eu/item/92018/item_AB12CD34?utm_source=api&utm_medium=api&utm_campaign=demoKey1",
   "id":"/92018/item_AB12CD34","index":0,"language":["nl"],
   "link":"https://api.europeana.eu/record/92018/item_AB12CD34.json?wskey=demoKey1",
   "previewNoDistribute":false,"provider":["Dutch Collections for Europe"],
   "rights":["http://creativecommons.org/publicdomain/zero/1.0/"],"score":0.5396352,
   "timestamp":1690898849287,"timestamp_created":"2022-03-02T15:35:41.563Z","timestamp_created_epoch":1646235341563,
   "timestamp_update":"2023-08-01T14:02:32.057Z","timestamp_update_epoch":1690898552057,
   "title":["Haven bij avond"],"type":"IMAGE","ugc":[false],"year":["1931"]},
  {"completeness":5,"country":["Estonia"],"dataProvider":["Example Museum"],
   "dcTitleLangAware":{"et":["Varrukad"]},"edmDatasetName":["401_Muuseumid"],
   "edmIsShownAt":["https://www.muis.example/museaal/12345"],
   "edmPreview":["https://api.europeana.eu/thumbnail/v2/url.json?uri=https%3A%2F%2Fwww.muis.example%2Fmeedia%3Fid%3D3d90&type=IMAGE"],
   "europeanaCollectionName":["401_Muuseumid"],"europeanaCompleteness":5,
   "guid":"https://www.europeana.eu/item/401/item_2FH3CW4B?utm_source=api&utm_medium=api&utm_campaign=demoKey1",
   "id":"/401/item_2FH3CW4B","index":0,"language":["et"],
   "link":"https://api.europeana.eu/record/401/item_2FH3CW4B.json?wskey=demoKey1",
   "previewNoDistribute":false,"provider":["Estonian Aggregator"],
   "rights":["http://creativecommons.org/licenses/by-sa/4.0/"],"score":0.41,"timestamp":1690898830288,
   "title":["Varrukad","Varrukad"],"type":"IMAGE","ugc":[false],"year":["1890"]}]})json";

/* §12 (b): the trailing empty page after the last results. */
const char kExampleB[] =
    R"json({"apikey":"demoKey1","success":true,"requestNumber":999,"itemsCount":0,"totalResults":48213,"items":[]})json";

/* §12 (d): error bodies. */
const char kError401[] =
    R"json({"success":false,"error":"API key is invalid","message":"Please register for an API key","code":"401_key_invalid"})json";
const char kError400Sl[] =
    R"json({"apikey":"demoKey1","success":false,"error":"It is not possible to paginate beyond the first 1000 search results. Please use cursor-based pagination instead","message":"It is not possible to paginate beyond the first 1000 search results. Please use cursor-based pagination instead","code":"400-SL"})json";

const char kKey[] = "demoKey1";
const char kBaseUrl[] = "https://api.europeana.eu/record/v2/search.json";

HttpResponse
Response(long status, std::string body, std::string content_type = "application/json;charset=UTF-8",
         std::map<std::string, std::string> headers = {}) {
	HttpResponse response;
	response.status = status;
	response.body = std::move(body);
	response.content_type = std::move(content_type);
	response.headers = std::move(headers);
	return response;
}

/* Answers requests from a script (one entry per request) or, when `route` is set, from a
 * function of the request; records every request. */
class FakeHttp final : public HttpClient {
public:
	using Handler = std::function<HttpResponse(const HttpRequest &)>;

	HttpResponse
	Get(const HttpRequest &request, const ShouldStop &should_stop) override {
		requests.push_back(request);
		if (should_stop && should_stop()) {
			throw Error(ErrorKind::Cancelled, "cancelled");
		}
		if (route) {
			return route(request);
		}
		if (script.empty()) {
			ADD_FAILURE() << "unexpected request " << request.url;
			throw Error(ErrorKind::Internal, "unexpected request");
		}
		Handler next = std::move(script.front());
		script.pop_front();
		return next(request);
	}

	void
	Reply(HttpResponse response) {
		script.push_back([response](const HttpRequest &) { return response; });
	}

	void
	Fail(const std::string &message) {
		script.push_back(
		    [message](const HttpRequest &) -> HttpResponse { throw Error(ErrorKind::Unavailable, message); });
	}

	std::deque<Handler> script;
	Handler route;
	std::vector<HttpRequest> requests;
};

/* Records sleeps and advances a virtual time; honours should_stop like the real clock. */
class FakeClock final : public Clock {
public:
	std::chrono::steady_clock::time_point
	Now() override {
		return now;
	}

	void
	SleepFor(milliseconds d, const ShouldStop &should_stop) override {
		if (should_stop && should_stop()) {
			throw Error(ErrorKind::Cancelled, "cancelled while waiting");
		}
		sleeps.push_back(d);
		now += d;
	}

	std::chrono::steady_clock::time_point now {};
	std::vector<milliseconds> sleeps;
};

SearchQuery
Query() {
	SearchQuery query;
	query.base_url = kBaseUrl;
	query.api_key = kKey;
	query.qf = {"TYPE:IMAGE"};
	query.reusability = {"open"};
	query.rows = 2;
	return query;
}

RetryPolicy
Policy(uint64_t seed = 42) {
	RetryPolicy policy;
	policy.seed = seed;
	return policy;
}

std::string
PercentDecode(const std::string &text) {
	std::string out;
	for (size_t i = 0; i < text.size(); i++) {
		if (text[i] == '%' && i + 2 < text.size()) {
			out.push_back(static_cast<char>(std::stoi(text.substr(i + 1, 2), nullptr, 16)));
			i += 2;
		} else {
			out.push_back(text[i]);
		}
	}
	return out;
}

/* The decoded value of the cursor parameter of a search URL. */
std::string
CursorOf(const std::string &url) {
	const size_t pos = url.find("&cursor=");
	if (pos == std::string::npos) {
		return {};
	}
	const size_t begin = pos + 8;
	return PercentDecode(url.substr(begin, url.find('&', begin) - begin));
}

/* A success body with one minimal item per id. */
std::string
PageBody(const std::vector<std::string> &ids, std::optional<std::string> next_cursor, int64_t total = 1000) {
	nlohmann::json body = {{"apikey", kKey},
	                       {"success", true},
	                       {"requestNumber", 999},
	                       {"itemsCount", ids.size()},
	                       {"totalResults", total}};
	if (next_cursor) {
		body["nextCursor"] = *next_cursor;
	}
	body["items"] = nlohmann::json::array();
	for (const auto &id : ids) {
		body["items"].push_back({{"id", id},
		                         {"title", {"Title of " + id}},
		                         {"link", "https://api.europeana.eu/record" + id + ".json?wskey=" + kKey}});
	}
	return body.dump();
}

std::vector<std::string>
Ids(const SearchPage &page) {
	std::vector<std::string> ids;
	for (const auto &item : page.items) {
		ids.push_back(item.id);
	}
	return ids;
}

/* Runs `fn`, expecting an Error of `kind`; returns it for further checks. */
template <typename Fn>
Error
ExpectError(ErrorKind kind, Fn fn) {
	try {
		fn();
	} catch (const Error &e) {
		EXPECT_EQ(static_cast<int>(e.Kind()), static_cast<int>(kind)) << e.what();
		return e;
	}
	ADD_FAILURE() << "no Error thrown";
	return Error(ErrorKind::Internal, "none");
}

const ShouldStop kNeverStop;

// ---------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------

TEST(SearchClientParse, ExampleFirstPage) {
	FakeHttp http;
	FakeClock clock;
	http.Reply(Response(200, kExampleA));
	SearchClient client(http, clock, Policy());
	const SearchPage page = client.FetchPage(Query(), "*", kNeverStop);

	EXPECT_EQ(page.total_results, 48213);
	ASSERT_TRUE(page.next_cursor.has_value());
	EXPECT_EQ(*page.next_cursor, "AoJ4kPq7s5EDPxkvOTIwMTgvaXRlbV9BQjEyQ0QzNA==");
	EXPECT_EQ(page.attempts, 1);
	EXPECT_EQ(page.skipped_items, 0);
	ASSERT_EQ(page.items.size(), 2u);

	const SearchItem &first = page.items[0];
	EXPECT_EQ(first.id, "/92018/item_AB12CD34");
	EXPECT_EQ(first.title, "Haven bij avond");
	EXPECT_EQ(first.data_provider, "Stadsarchief Voorbeeld");
	EXPECT_EQ(first.provider, "Dutch Collections for Europe");
	EXPECT_EQ(first.country, "Netherlands");
	EXPECT_EQ(first.rights, "http://creativecommons.org/publicdomain/zero/1.0/");
	EXPECT_EQ(first.type, "IMAGE");
	EXPECT_EQ(first.year, "1931");
	EXPECT_EQ(first.is_shown_by, "http://images.example.nl/fullsize/ab12cd34.jpg");
	EXPECT_EQ(first.is_shown_at, "http://archief.example.nl/detail/1234");
	EXPECT_EQ(first.preview, "https://api.europeana.eu/thumbnail/v2/url.json?uri=http%3A%2F%2Fimages.example.nl%2F"
	                         "640x480%2Fab12cd34.jpg&type=IMAGE");
	EXPECT_EQ(first.concepts, std::vector<std::string> {"http://data.europeana.eu/concept/48"});

	/* The second item has no edmIsShownBy, a repeated title and no "en" anywhere. */
	const SearchItem &second = page.items[1];
	EXPECT_EQ(second.id, "/401/item_2FH3CW4B");
	EXPECT_EQ(second.title, "Varrukad");
	EXPECT_EQ(second.is_shown_by, "");
	EXPECT_EQ(second.is_shown_at, "https://www.muis.example/museaal/12345");
	EXPECT_EQ(second.country, "Estonia");
	EXPECT_EQ(second.rights, "http://creativecommons.org/licenses/by-sa/4.0/");
	EXPECT_EQ(second.year, "1890");
	EXPECT_TRUE(second.concepts.empty());
}

TEST(SearchClientParse, ItemJsonHasNoKey) {
	FakeHttp http;
	FakeClock clock;
	http.Reply(Response(200, kExampleA));
	SearchClient client(http, clock, Policy());
	const SearchPage page = client.FetchPage(Query(), "*", kNeverStop);
	ASSERT_EQ(page.items.size(), 2u);
	/* The fixture carries the key in apikey, link and guid. */
	ASSERT_NE(std::string(kExampleA).find("wskey=demoKey1"), std::string::npos);
	ASSERT_NE(std::string(kExampleA).find("utm_campaign=demoKey1"), std::string::npos);
	for (const auto &item : page.items) {
		EXPECT_EQ(item.json.find(kKey), std::string::npos) << item.json;
		const auto json = nlohmann::json::parse(item.json);
		EXPECT_FALSE(json.contains("guid"));
		EXPECT_FALSE(json.contains("link"));
		EXPECT_FALSE(json.contains("apikey"));
		EXPECT_EQ(json.at("id"), item.id);
		EXPECT_TRUE(json.contains("edmPreview"));
		EXPECT_TRUE(json.contains("timestamp_update") || item.id == "/401/item_2FH3CW4B");
	}
	const auto first = nlohmann::json::parse(page.items[0].json);
	EXPECT_EQ(first.at("dcDescription").at(0), "Gezicht op de haven.&nbsp;\n          Achtergrond: pakhuizen.");
	EXPECT_EQ(first.at("edmConceptLabel").size(), 2u);
}

TEST(SearchClientParse, KeyParametersScrubbedFromEveryString) {
	const std::string body = R"json({"success":true,"totalResults":1,"items":[{"id":"/1/a",
	  "edmIsShownAt":["http://x.example/y?wskey=demoKey1&a=1"],
	  "edmIsShownBy":["http://x.example/z?b=2&WSKEY=otherKey99&c=3"],
	  "nested":{"deeper":["see https://www.europeana.eu/item/1/a?utm_source=api&utm_campaign=demoKey1"]},
	  "dcDescription":["mentions demoKey1 literally"]}]})json";
	FakeHttp http;
	FakeClock clock;
	http.Reply(Response(200, body));
	SearchClient client(http, clock, Policy());
	const SearchPage page = client.FetchPage(Query(), "*", kNeverStop);
	ASSERT_EQ(page.items.size(), 1u);
	const SearchItem &item = page.items[0];
	EXPECT_EQ(item.is_shown_at, "http://x.example/y?a=1");
	EXPECT_EQ(item.is_shown_by, "http://x.example/z?b=2&c=3");
	EXPECT_EQ(item.json.find(kKey), std::string::npos) << item.json;
	EXPECT_EQ(item.json.find("otherKey99"), std::string::npos) << item.json;
	const auto json = nlohmann::json::parse(item.json);
	EXPECT_EQ(json["nested"]["deeper"][0], "see https://www.europeana.eu/item/1/a?utm_source=api");
	EXPECT_EQ(json["dcDescription"][0], "mentions *** literally");
}

TEST(SearchClientParse, ToleratesStringsArraysAndMissingFields) {
	const std::string body = R"json({"success":true,"totalResults":"not a number","nextCursor":"",
	  "items":[
	    {"id":"/1/plain","title":"Plain title","rights":"http://creativecommons.org/licenses/by/4.0/",
	     "year":1931,"dataProvider":{"def":["Org A"]},"provider":[{"def":"Org B"}],
	     "edmConcept":"http://data.europeana.eu/concept/48","edmIsShownBy":[],"edmPreview":[null,"","p.jpg"],
	     "country":null,"type":"IMAGE"},
	    {"id":"/1/langaware","dcTitleLangAware":{"et":["Varrukad"]}},
	    {"title":["no id"]},
	    7,
	    {"id":"/1/bare"}]})json";
	FakeHttp http;
	FakeClock clock;
	http.Reply(Response(200, body));
	SearchClient client(http, clock, Policy());
	const SearchPage page = client.FetchPage(Query(), "*", kNeverStop);
	EXPECT_EQ(page.total_results, 0);
	EXPECT_FALSE(page.next_cursor.has_value()) << "an empty nextCursor counts as none";
	EXPECT_EQ(page.skipped_items, 2);
	ASSERT_EQ(page.items.size(), 3u);

	const SearchItem &plain = page.items[0];
	EXPECT_EQ(plain.title, "Plain title");
	EXPECT_EQ(plain.rights, "http://creativecommons.org/licenses/by/4.0/");
	EXPECT_EQ(plain.year, "1931");
	EXPECT_EQ(plain.data_provider, "Org A");
	EXPECT_EQ(plain.provider, "Org B");
	EXPECT_EQ(plain.concepts, std::vector<std::string> {"http://data.europeana.eu/concept/48"});
	EXPECT_EQ(plain.is_shown_by, "");
	EXPECT_EQ(plain.preview, "p.jpg");
	EXPECT_EQ(plain.country, "");
	EXPECT_EQ(page.items[1].title, "Varrukad");

	const SearchItem &bare = page.items[2];
	EXPECT_EQ(bare.title, "");
	EXPECT_EQ(bare.type, "");
	EXPECT_EQ(bare.json, R"({"id":"/1/bare"})");
}

TEST(SearchClientParse, TrailingEmptyPage) {
	FakeHttp http;
	FakeClock clock;
	http.Reply(Response(200, kExampleB));
	SearchClient client(http, clock, Policy());
	const SearchPage page = client.FetchPage(Query(), "AoJ4kPq7s5EDPxkvOTIwMTgvaXRlbV9BQjEyQ0QzNA==", kNeverStop);
	EXPECT_TRUE(page.items.empty());
	EXPECT_FALSE(page.next_cursor.has_value());
	EXPECT_EQ(page.total_results, 48213);
}

TEST(SearchClientParse, MissingItemsArrayIsAnEmptyPage) {
	FakeHttp http;
	FakeClock clock;
	http.Reply(Response(200, R"({"success":true,"totalResults":0})"));
	SearchClient client(http, clock, Policy());
	const SearchPage page = client.FetchPage(Query(), "*", kNeverStop);
	EXPECT_TRUE(page.items.empty());
	EXPECT_TRUE(clock.sleeps.empty());
}

// ---------------------------------------------------------------------------------------
// Request building
// ---------------------------------------------------------------------------------------

TEST(SearchUrl, EncodesEveryValue) {
	SearchQuery query;
	query.base_url = kBaseUrl;
	query.api_key = kKey;
	query.query = "who:\"Rembrandt\" AND year:[1600 TO 1700]";
	query.qf = {"TYPE:IMAGE", "RIGHTS:http://creativecommons.org/*"};
	query.reusability = {"open", "Restricted"};
	query.rows = 250;
	EXPECT_EQ(BuildSearchUrl(query, "AoJ4+/x=="), "https://api.europeana.eu/record/v2/search.json"
	                                              "?query=who%3A%22Rembrandt%22%20AND%20year%3A%5B1600%20TO%201700%5D"
	                                              "&qf=TYPE%3AIMAGE&qf=RIGHTS%3Ahttp%3A%2F%2Fcreativecommons.org%2F*"
	                                              "&reusability=open%2Crestricted&media=true&rows=100&profile=standard"
	                                              "&sort=europeana_id+asc&cursor=AoJ4%2B%2Fx%3D%3D");
}

TEST(SearchUrl, DefaultsAndOptionalParts) {
	SearchQuery query;
	query.base_url = "http://127.0.0.1:8080/record/v2/search.json?theme=art";
	query.api_key = kKey;
	query.media = false;
	query.profile = "";
	const std::string url = BuildSearchUrl(query, "");
	EXPECT_EQ(url, "http://127.0.0.1:8080/record/v2/search.json?theme=art&query=*&rows=100"
	               "&sort=europeana_id+asc&cursor=*");
	EXPECT_EQ(url.find("media"), std::string::npos) << "media=false would select items without media";
	EXPECT_EQ(url.find(kKey), std::string::npos);

	query.reusability = {"open permission,restricted+open"};
	EXPECT_NE(BuildSearchUrl(query, "*").find("&reusability=open%2Cpermission%2Crestricted&"), std::string::npos);
}

TEST(SearchUrl, RejectsValuesTheApiWouldIgnoreOrRefuse) {
	SearchQuery query = Query();
	query.reusability = {"opne"};
	ExpectError(ErrorKind::InvalidInput, [&] { BuildSearchUrl(query, "*"); });
	query = Query();
	query.profile = "standrad";
	ExpectError(ErrorKind::InvalidInput, [&] { BuildSearchUrl(query, "*"); });
	query = Query();
	query.query = "  ";
	ExpectError(ErrorKind::InvalidInput, [&] { BuildSearchUrl(query, "*"); });
	query = Query();
	query.rows = 0;
	ExpectError(ErrorKind::InvalidInput, [&] { BuildSearchUrl(query, "*"); });
	query = Query();
	query.base_url = "";
	ExpectError(ErrorKind::InvalidInput, [&] { BuildSearchUrl(query, "*"); });
	query = Query();
	query.profile = "rich facets";
	EXPECT_NE(BuildSearchUrl(query, "*").find("&profile=rich%20facets&"), std::string::npos);
}

TEST(SearchClientRequest, KeyTravelsInHeaderOnly) {
	FakeHttp http;
	FakeClock clock;
	http.Reply(Response(200, kExampleB));
	SearchClient client(http, clock, Policy());
	client.FetchPage(Query(), "AoJ4+/x==", kNeverStop);
	ASSERT_EQ(http.requests.size(), 1u);
	const HttpRequest &request = http.requests[0];
	EXPECT_EQ(request.url.find(kKey), std::string::npos);
	EXPECT_EQ(request.url.find("wskey"), std::string::npos);
	EXPECT_EQ(CursorOf(request.url), "AoJ4+/x==");
	const std::vector<std::pair<std::string, std::string>> expected = {{"X-Api-Key", kKey},
	                                                                   {"Accept", "application/json"}};
	EXPECT_EQ(request.headers, expected);
	EXPECT_EQ(request.connect_timeout_ms, 10000);
	EXPECT_EQ(request.total_timeout_ms, 30000);
}

TEST(SearchClientRequest, MissingKeyFailsWithoutRequest) {
	FakeHttp http;
	FakeClock clock;
	SearchClient client(http, clock, Policy());
	SearchQuery query = Query();
	query.api_key = "";
	const Error e = ExpectError(ErrorKind::InvalidInput, [&] { client.FetchPage(query, "*", kNeverStop); });
	EXPECT_NE(e.Hint().find("europeana.api_key"), std::string::npos);
	EXPECT_TRUE(http.requests.empty());
}

// ---------------------------------------------------------------------------------------
// Retries
// ---------------------------------------------------------------------------------------

TEST(SearchClientRetry, Retries503) {
	FakeHttp http;
	FakeClock clock;
	http.Reply(Response(503, R"({"success":false,"error":"Unable to connect to search engine.","code":"503-SA"})"));
	http.Reply(Response(200, kExampleA));
	SearchClient client(http, clock, Policy());
	const SearchPage page = client.FetchPage(Query(), "*", kNeverStop);
	EXPECT_EQ(page.items.size(), 2u);
	EXPECT_EQ(page.attempts, 2);
	ASSERT_EQ(clock.sleeps.size(), 1u);
	EXPECT_LE(clock.sleeps[0], milliseconds(500));
	EXPECT_EQ(http.requests[0].url, http.requests[1].url);
}

TEST(SearchClientRetry, RetriesHtmlGatewayPage) {
	FakeHttp http;
	FakeClock clock;
	http.Reply(Response(502, "<html><body><h1>502 Bad Gateway</h1></body></html>", "text/html"));
	http.Reply(Response(200, "<html>maintenance</html>", "text/html; charset=utf-8"));
	http.Reply(Response(200, "{\"success\":true,\"items\":[", "application/json"));
	http.Reply(Response(200, kExampleA));
	SearchClient client(http, clock, Policy());
	const SearchPage page = client.FetchPage(Query(), "*", kNeverStop);
	EXPECT_EQ(page.items.size(), 2u);
	EXPECT_EQ(page.attempts, 4);
	EXPECT_EQ(clock.sleeps.size(), 3u);
}

TEST(SearchClientRetry, RetriesTransportFailure) {
	FakeHttp http;
	FakeClock clock;
	http.Fail("could not fetch https://api.europeana.eu/...: Connection reset by peer");
	http.Reply(Response(200, kExampleA));
	SearchClient client(http, clock, Policy());
	const SearchPage page = client.FetchPage(Query(), "*", kNeverStop);
	EXPECT_EQ(page.attempts, 2);
	EXPECT_EQ(clock.sleeps.size(), 1u);
}

TEST(SearchClientRetry, RateLimitWaitsForTheWindow) {
	FakeHttp http;
	FakeClock clock;
	http.Reply(Response(
	    429,
	    R"({"success":false,"error":"Personal key client has reached the limit of 1000 requests per 60 minutes","code":"429_limit_personal"})",
	    "application/json", {{"ratelimit", "\"personal\";r=0;t=7"}}));
	http.Reply(Response(200, kExampleA));
	SearchClient client(http, clock, Policy());
	const SearchPage page = client.FetchPage(Query(), "*", kNeverStop);
	EXPECT_EQ(page.attempts, 2);
	EXPECT_EQ(clock.sleeps, std::vector<milliseconds> {milliseconds(7000)});
}

TEST(SearchClientRetry, RateLimitWaitIsCappedAndNamedInTheFinalError) {
	FakeHttp http;
	FakeClock clock;
	RetryPolicy policy = Policy();
	policy.max_attempts = 2;
	for (int i = 0; i < 2; i++) {
		http.Reply(Response(429, R"({"success":false,"error":"limit","code":"429_limit_project"})", "application/json",
		                    {{"ratelimit", "\"project\";r=0;t=3600"}}));
	}
	SearchClient client(http, clock, policy);
	const Error e = ExpectError(ErrorKind::Unavailable, [&] { client.FetchPage(Query(), "*", kNeverStop); });
	EXPECT_EQ(clock.sleeps, std::vector<milliseconds> {milliseconds(30000)});
	EXPECT_NE(std::string(e.what()).find("429_limit_project"), std::string::npos) << e.what();
	EXPECT_NE(std::string(e.what()).find("resets in 3600 s"), std::string::npos) << e.what();
}

TEST(SearchClientRetry, RateLimitWithoutHeaderBacksOff) {
	FakeHttp http;
	FakeClock clock;
	http.Reply(Response(429, "Too Many Requests", "text/plain"));
	http.Reply(Response(429, "", "", {{"retry-after", "2"}}));
	http.Reply(Response(200, kExampleA));
	SearchClient client(http, clock, Policy());
	client.FetchPage(Query(), "*", kNeverStop);
	ASSERT_EQ(clock.sleeps.size(), 2u);
	EXPECT_LE(clock.sleeps[0], milliseconds(500));
	EXPECT_EQ(clock.sleeps[1], milliseconds(2000));
}

TEST(SearchClientRetry, SolrTimeoutSentAs400IsRetried) {
	FakeHttp http;
	FakeClock clock;
	http.Reply(Response(400, R"({"success":false,"error":"Timeout connecting to search engine.","code":"504-SA"})"));
	http.Reply(Response(200, kExampleA));
	SearchClient client(http, clock, Policy());
	EXPECT_EQ(client.FetchPage(Query(), "*", kNeverStop).attempts, 2);
}

TEST(SearchClientRetry, GivesUpAfterMaxAttempts) {
	FakeHttp http;
	FakeClock clock;
	for (int i = 0; i < 6; i++) {
		http.Reply(Response(503, R"({"success":false,"error":"Unable to connect to search engine.","code":"503-SA"})"));
	}
	const RetryPolicy policy = Policy();
	SearchClient client(http, clock, policy);
	const Error e = ExpectError(ErrorKind::Unavailable, [&] { client.FetchPage(Query(), "*", kNeverStop); });
	EXPECT_EQ(http.requests.size(), 6u);
	ASSERT_EQ(clock.sleeps.size(), 5u);
	for (size_t i = 0; i < clock.sleeps.size(); i++) {
		EXPECT_LE(clock.sleeps[i], BackoffCeiling(policy, static_cast<int>(i) + 1));
	}
	EXPECT_STREQ(e.what(), "Europeana API unavailable after 6 attempts; last failure: HTTP 503 (503-SA): Unable to "
	                       "connect to search engine.");
}

TEST(SearchClientRetry, LastTransportFailureIsNamed) {
	FakeHttp http;
	FakeClock clock;
	RetryPolicy policy = Policy();
	policy.max_attempts = 2;
	http.Reply(Response(500, R"({"success":false,"error":"Internal server error"})"));
	http.Fail("fetching https://api.europeana.eu/record/v2/search.json timed out");
	SearchClient client(http, clock, policy);
	const Error e = ExpectError(ErrorKind::Unavailable, [&] { client.FetchPage(Query(), "*", kNeverStop); });
	EXPECT_NE(std::string(e.what()).find("after 2 attempts; last failure: fetching"), std::string::npos) << e.what();
	EXPECT_NE(std::string(e.what()).find("timed out"), std::string::npos);
}

TEST(SearchClientRetry, JitterIsRepeatableForASeed) {
	auto run = [](uint64_t seed) {
		FakeHttp http;
		FakeClock clock;
		for (int i = 0; i < 6; i++) {
			http.Fail("connection refused");
		}
		SearchClient client(http, clock, Policy(seed));
		EXPECT_THROW(client.FetchPage(Query(), "*", kNeverStop), Error);
		return clock.sleeps;
	};
	EXPECT_EQ(run(7), run(7));
	EXPECT_NE(run(7), run(8));
}

TEST(SearchClientCancel, CancelDuringBackoff) {
	FakeHttp http;
	FakeClock clock;
	bool stop = false;
	http.script.push_back([&](const HttpRequest &) {
		stop = true; /* the query is cancelled while the first request is answered */
		return Response(503, R"({"success":false,"code":"503-SA"})");
	});
	SearchClient client(http, clock, Policy());
	ExpectError(ErrorKind::Cancelled, [&] { client.FetchPage(Query(), "*", [&] { return stop; }); });
	EXPECT_EQ(http.requests.size(), 1u);
	EXPECT_TRUE(clock.sleeps.empty());
}

TEST(SearchClientCancel, CancelledTransferIsNotRetried) {
	FakeHttp http;
	FakeClock clock;
	http.script.push_back(
	    [](const HttpRequest &) -> HttpResponse { throw Error(ErrorKind::Cancelled, "cancelled while fetching"); });
	SearchClient client(http, clock, Policy());
	ExpectError(ErrorKind::Cancelled, [&] { client.FetchPage(Query(), "*", kNeverStop); });
	EXPECT_EQ(http.requests.size(), 1u);
}

// ---------------------------------------------------------------------------------------
// Rejections: no retry
// ---------------------------------------------------------------------------------------

TEST(SearchClientReject, InvalidCursor) {
	FakeHttp http;
	FakeClock clock;
	http.Reply(Response(
	    400,
	    R"json({"apikey":"demoKey1","success":false,"error":"Invalid cursor value. Please make sure you encode the cursor value before sending it to the API.","message":"Please make sure you encode the cursor value before sending it to the API.","code":"400-SC"})json"));
	SearchClient client(http, clock, Policy());
	const Error e = ExpectError(ErrorKind::InvalidInput, [&] { client.FetchPage(Query(), "bad", kNeverStop); });
	EXPECT_STREQ(e.what(), "Europeana API rejected the request (400-SC): Invalid cursor value. Please make sure you "
	                       "encode the cursor value before sending it to the API.");
	EXPECT_EQ(http.requests.size(), 1u);
	EXPECT_TRUE(clock.sleeps.empty());
}

TEST(SearchClientReject, PaginationLimit) {
	FakeHttp http;
	FakeClock clock;
	http.Reply(Response(400, kError400Sl));
	SearchClient client(http, clock, Policy());
	const Error e = ExpectError(ErrorKind::InvalidInput, [&] { client.FetchPage(Query(), "*", kNeverStop); });
	EXPECT_NE(std::string(e.what()).find("(400-SL): It is not possible to paginate beyond the first 1000"),
	          std::string::npos)
	    << e.what();
	EXPECT_EQ(std::string(e.what()).find(kKey), std::string::npos);
	EXPECT_EQ(http.requests.size(), 1u);
	EXPECT_TRUE(clock.sleeps.empty());
}

TEST(SearchClientReject, UnknownKey) {
	FakeHttp http;
	FakeClock clock;
	http.Reply(Response(401, kError401));
	SearchClient client(http, clock, Policy());
	const Error e = ExpectError(ErrorKind::InvalidInput, [&] { client.FetchPage(Query(), "*", kNeverStop); });
	EXPECT_STREQ(e.what(), "Europeana API key rejected (401_key_invalid): API key is invalid; Please register for an "
	                       "API key");
	EXPECT_EQ(std::string(e.what()).find(kKey), std::string::npos);
	EXPECT_NE(e.Hint().find("europeana.api_key"), std::string::npos);
	EXPECT_EQ(e.Hint().find(kKey), std::string::npos);
	EXPECT_EQ(http.requests.size(), 1u);
	EXPECT_TRUE(clock.sleeps.empty());
}

TEST(SearchClientReject, KeyErrorsInOtherShapes) {
	const std::vector<HttpResponse> responses = {
	    Response(400, R"({"success":false,"error":"API key is invalid","code":"401_key_invalid"})"),
	    Response(
	        401,
	        R"({"success":false,"error":"Unauthorized","message":"Invalid API key provided!","code":"invalid_apikey"})"),
	    Response(
	        200,
	        R"({"apikey":"demoKey1","success":false,"error":"You API key has been disabled","code":"401_key_disabled"})"),
	    Response(401, "<html>Unauthorized demoKey1</html>", "text/html"),
	    Response(403, "", ""),
	};
	for (const auto &response : responses) {
		FakeHttp http;
		FakeClock clock;
		http.Reply(response);
		SearchClient client(http, clock, Policy());
		const Error e = ExpectError(ErrorKind::InvalidInput, [&] { client.FetchPage(Query(), "*", kNeverStop); });
		EXPECT_EQ(std::string(e.what()).rfind("Europeana API key rejected (", 0), 0u) << e.what();
		EXPECT_EQ(std::string(e.what()).find(kKey), std::string::npos) << e.what();
		EXPECT_EQ(http.requests.size(), 1u);
		EXPECT_TRUE(clock.sleeps.empty());
	}
}

TEST(SearchClientReject, FailureInsideA200) {
	FakeHttp http;
	FakeClock clock;
	http.Reply(Response(200, R"({"success":false,"error":"Empty search query parameter","code":"400-SE"})"));
	SearchClient client(http, clock, Policy());
	const Error e = ExpectError(ErrorKind::InvalidInput, [&] { client.FetchPage(Query(), "*", kNeverStop); });
	EXPECT_STREQ(e.what(), "Europeana API rejected the request (400-SE): Empty search query parameter");
	EXPECT_TRUE(clock.sleeps.empty());
}

TEST(SearchClientReject, ErrorWithoutCode) {
	FakeHttp http;
	FakeClock clock;
	http.Reply(Response(400, R"({"success":false,"error":"Required parameter 'query' missing"})"));
	SearchClient client(http, clock, Policy());
	const Error e = ExpectError(ErrorKind::InvalidInput, [&] { client.FetchPage(Query(), "*", kNeverStop); });
	EXPECT_STREQ(e.what(), "Europeana API rejected the request (HTTP 400): Required parameter 'query' missing");
}

TEST(SearchClientReject, NotFoundPageIsNotRetried) {
	FakeHttp http;
	FakeClock clock;
	http.Reply(Response(404, "<html>Not Found</html>", "text/html"));
	SearchClient client(http, clock, Policy());
	const Error e = ExpectError(ErrorKind::InvalidInput, [&] { client.FetchPage(Query(), "*", kNeverStop); });
	EXPECT_NE(std::string(e.what()).find("(HTTP 404)"), std::string::npos) << e.what();
	EXPECT_TRUE(clock.sleeps.empty());
}

// ---------------------------------------------------------------------------------------
// Cursor paging
// ---------------------------------------------------------------------------------------

/* A fake search index: cursor -> body.  Unknown cursors fail the test. */
struct FakeIndex {
	std::map<std::string, std::string> pages;
	std::vector<std::string> asked;

	void
	Install(FakeHttp &http) {
		http.route = [this](const HttpRequest &request) {
			const std::string cursor = CursorOf(request.url);
			asked.push_back(cursor);
			auto found = pages.find(cursor);
			if (found == pages.end()) {
				ADD_FAILURE() << "unexpected cursor " << cursor;
				return Response(400, R"({"success":false,"error":"Invalid cursor value.","code":"400-SC"})");
			}
			return Response(200, found->second);
		};
	}
};

std::vector<std::vector<std::string>>
Drain(CursorPager &pager) {
	std::vector<std::vector<std::string>> pages;
	SearchPage page;
	while (pager.Next(&page, kNeverStop)) {
		pages.push_back(Ids(page));
	}
	return pages;
}

using PageIds = std::vector<std::vector<std::string>>;

TEST(CursorPager, StopsOnTrailingEmptyPage) {
	FakeHttp http;
	FakeClock clock;
	FakeIndex index;
	index.pages["*"] = PageBody({"/1/a", "/1/b"}, "AoE+/c1=");
	index.pages["AoE+/c1="] = PageBody({"/1/c"}, "AoE+/c2=");
	index.pages["AoE+/c2="] = kExampleB;
	index.Install(http);
	SearchClient client(http, clock, Policy());
	CursorPager pager(client, Query());
	EXPECT_EQ(Drain(pager), (PageIds {{"/1/a", "/1/b"}, {"/1/c"}}));
	EXPECT_EQ(index.asked, (std::vector<std::string> {"*", "AoE+/c1=", "AoE+/c2="}));
	EXPECT_TRUE(pager.Done());
	EXPECT_EQ(pager.Seen(), 3u);
	EXPECT_EQ(pager.Cursor(), "AoE+/c2=");
	SearchPage page;
	EXPECT_FALSE(pager.Next(&page, kNeverStop));
	EXPECT_EQ(index.asked.size(), 3u) << "no request once done";
}

TEST(CursorPager, StopsWhenNextCursorIsAbsent) {
	FakeHttp http;
	FakeClock clock;
	FakeIndex index;
	index.pages["*"] = PageBody({"/1/a", "/1/b"}, "c1");
	index.pages["c1"] = PageBody({"/1/c", "/1/d"}, std::nullopt);
	index.Install(http);
	SearchClient client(http, clock, Policy());
	CursorPager pager(client, Query());
	EXPECT_EQ(Drain(pager), (PageIds {{"/1/a", "/1/b"}, {"/1/c", "/1/d"}}));
	EXPECT_EQ(index.asked.size(), 2u);
	EXPECT_EQ(pager.Seen(), 4u);
}

TEST(CursorPager, StopsWhenACursorRepeats) {
	FakeHttp http;
	FakeClock clock;
	FakeIndex index;
	index.pages["*"] = PageBody({"/1/a"}, "c1");
	index.pages["c1"] = PageBody({"/1/b"}, "c2");
	index.pages["c2"] = PageBody({"/1/c"}, "c1");
	index.Install(http);
	SearchClient client(http, clock, Policy());
	CursorPager pager(client, Query());
	EXPECT_EQ(Drain(pager), (PageIds {{"/1/a"}, {"/1/b"}, {"/1/c"}}));
	EXPECT_EQ(index.asked, (std::vector<std::string> {"*", "c1", "c2"}));
}

TEST(CursorPager, DropsItemsSeenOnEarlierPages) {
	FakeHttp http;
	FakeClock clock;
	FakeIndex index;
	index.pages["*"] = PageBody({"/1/a", "/1/b"}, "c1");
	index.pages["c1"] = PageBody({"/1/b", "/1/c", "/1/c"}, "c2");
	index.pages["c2"] = PageBody({"/1/a", "/1/c"}, "c3"); /* nothing new: skipped, not returned */
	index.pages["c3"] = PageBody({"/1/d"}, "c4");
	index.pages["c4"] = PageBody({}, std::nullopt);
	index.Install(http);
	SearchClient client(http, clock, Policy());
	CursorPager pager(client, Query());
	EXPECT_EQ(Drain(pager), (PageIds {{"/1/a", "/1/b"}, {"/1/c"}, {"/1/d"}}));
	EXPECT_EQ(pager.Seen(), 4u);
	EXPECT_EQ(index.asked.size(), 5u);
}

TEST(CursorPager, TruncatesAtMaxRecords) {
	FakeHttp http;
	FakeClock clock;
	FakeIndex index;
	index.pages["*"] = PageBody({"/1/a", "/1/b"}, "c1");
	index.pages["c1"] = PageBody({"/1/c", "/1/d"}, "c2");
	index.Install(http);
	SearchClient client(http, clock, Policy());
	CursorPager pager(client, Query(), "*", 3);
	SearchPage page;
	ASSERT_TRUE(pager.Next(&page, kNeverStop));
	EXPECT_EQ(pager.Cursor(), "c1") << "after a complete page the cursor names the next one";
	ASSERT_TRUE(pager.Next(&page, kNeverStop));
	EXPECT_EQ(Ids(page), (std::vector<std::string> {"/1/c"}));
	EXPECT_EQ(page.total_results, 1000);
	EXPECT_TRUE(pager.Done());
	EXPECT_EQ(pager.Seen(), 3u);
	EXPECT_EQ(pager.Cursor(), "c1") << "a cut page must be read again on resume";
	EXPECT_FALSE(pager.Next(&page, kNeverStop));
	EXPECT_EQ(index.asked.size(), 2u);
}

TEST(CursorPager, LimitReachedAtAPageBoundary) {
	FakeHttp http;
	FakeClock clock;
	FakeIndex index;
	index.pages["*"] = PageBody({"/1/a", "/1/b"}, "c1");
	index.Install(http);
	SearchClient client(http, clock, Policy());
	CursorPager pager(client, Query(), "*", 2);
	EXPECT_EQ(Drain(pager), (PageIds {{"/1/a", "/1/b"}}));
	EXPECT_EQ(pager.Cursor(), "c1");
	EXPECT_EQ(index.asked.size(), 1u);

	CursorPager none(client, Query(), "*", 0);
	SearchPage page;
	EXPECT_FALSE(none.Next(&page, kNeverStop));
	EXPECT_EQ(index.asked.size(), 1u);
}

TEST(CursorPager, ResumesFromCursor) {
	FakeHttp http;
	FakeClock clock;
	FakeIndex index;
	index.pages["*"] = PageBody({"/1/a", "/1/b"}, "c1");
	index.pages["c1"] = PageBody({"/1/c", "/1/d"}, "c2");
	index.pages["c2"] = PageBody({"/1/e"}, "c3");
	index.pages["c3"] = PageBody({}, std::nullopt);
	index.Install(http);
	SearchClient client(http, clock, Policy());

	std::string saved;
	{
		CursorPager first(client, Query(), "*", 3);
		Drain(first);
		saved = first.Cursor();
	}
	EXPECT_EQ(saved, "c1");
	CursorPager second(client, Query(), saved);
	EXPECT_EQ(Drain(second), (PageIds {{"/1/c", "/1/d"}, {"/1/e"}}));
	EXPECT_EQ(index.asked, (std::vector<std::string> {"*", "c1", "c1", "c2", "c3"}));
}

TEST(CursorPager, FailedPageLeavesCursorForRetry) {
	FakeHttp http;
	FakeClock clock;
	RetryPolicy policy = Policy();
	policy.max_attempts = 1;
	http.Reply(Response(200, PageBody({"/1/a"}, "c1")));
	http.Reply(Response(503, R"({"success":false,"code":"503-SA"})"));
	http.Reply(Response(200, PageBody({"/1/b"}, std::nullopt)));
	SearchClient client(http, clock, policy);
	CursorPager pager(client, Query());
	SearchPage page;
	ASSERT_TRUE(pager.Next(&page, kNeverStop));
	EXPECT_THROW(pager.Next(&page, kNeverStop), Error);
	EXPECT_EQ(pager.Cursor(), "c1");
	EXPECT_FALSE(pager.Done());
	ASSERT_TRUE(pager.Next(&page, kNeverStop));
	EXPECT_EQ(Ids(page), (std::vector<std::string> {"/1/b"}));
	EXPECT_EQ(CursorOf(http.requests.back().url), "c1");
}

TEST(CursorPager, EmptyResultSet) {
	FakeHttp http;
	FakeClock clock;
	http.Reply(Response(
	    200, R"({"apikey":"demoKey1","success":true,"requestNumber":999,"itemsCount":0,"totalResults":0,"items":[]})"));
	SearchClient client(http, clock, Policy());
	CursorPager pager(client, Query());
	SearchPage page;
	EXPECT_FALSE(pager.Next(&page, kNeverStop));
	EXPECT_EQ(pager.Cursor(), "*");
	EXPECT_EQ(pager.Seen(), 0u);
}

// ---------------------------------------------------------------------------------------
// Retry policy and rights
// ---------------------------------------------------------------------------------------

TEST(RetryPolicy, CeilingDoublesUpToTheCap) {
	const RetryPolicy policy;
	const std::vector<int64_t> expected = {500, 1000, 2000, 4000, 8000, 16000, 30000, 30000};
	for (size_t i = 0; i < expected.size(); i++) {
		EXPECT_EQ(BackoffCeiling(policy, static_cast<int>(i) + 1).count(), expected[i]) << i;
	}
	EXPECT_EQ(BackoffCeiling(policy, 1000).count(), 30000);
	RetryPolicy huge;
	huge.max_delay = milliseconds::max();
	EXPECT_GT(BackoffCeiling(huge, 200).count(), 0);
}

TEST(RetryPolicy, DelaysStayWithinTheCeiling) {
	const RetryPolicy policy;
	std::mt19937_64 rng(1);
	int64_t largest = 0;
	for (int i = 0; i < 1000; i++) {
		const auto delay = RetryDelay(policy, 3, rng);
		EXPECT_GE(delay.count(), 0);
		EXPECT_LE(delay.count(), 2000);
		largest = std::max<int64_t>(largest, delay.count());
	}
	EXPECT_GT(largest, 1500) << "full jitter spreads over the whole range";
	EXPECT_EQ(EffectiveSeed(Policy(99)), 99u);
}

TEST(Rights, Categories) {
	const std::vector<std::pair<std::string, std::string>> table = {
	    {"http://creativecommons.org/publicdomain/mark/1.0/", "open"},
	    {"http://creativecommons.org/publicdomain/zero/1.0/", "open"},
	    {"http://creativecommons.org/licenses/by/4.0/", "open"},
	    {"http://creativecommons.org/licenses/by-sa/3.0/nl/", "open"},
	    {"https://creativecommons.org/licenses/by-sa/4.0/", "open"},
	    {"  HTTPS://CreativeCommons.org/licenses/by/4.0  ", "open"},
	    {"http://creativecommons.org/publicdomain/zero/1.0", "open"},
	    {"http://creativecommons.org/licenses/by-nc/4.0/", "restricted"},
	    {"http://creativecommons.org/licenses/by-nc-sa/4.0/", "restricted"},
	    {"http://creativecommons.org/licenses/by-nc-nd/4.0/", "restricted"},
	    {"http://creativecommons.org/licenses/by-nd/4.0/", "restricted"},
	    {"http://www.europeana.eu/rights/out-of-copyright-non-commercial/", "restricted"},
	    {"http://rightsstatements.org/vocab/InC-EDU/1.0/", "restricted"},
	    {"http://rightsstatements.org/vocab/NoC-NC/1.0/", "restricted"},
	    {"https://rightsstatements.org/vocab/NoC-OKLR/1.0/", "restricted"},
	    {"http://www.europeana.eu/rights/rr-f/", "permission"},
	    {"http://www.europeana.eu/rights/rr-p/", "permission"},
	    {"http://www.europeana.eu/rights/rr-r/", "permission"},
	    {"http://www.europeana.eu/rights/unknown/", "permission"},
	    {"http://www.europeana.eu/rights/test-orphan-work-test/", "permission"},
	    {"http://rightsstatements.org/vocab/InC/1.0/", "permission"},
	    {"http://rightsstatements.org/vocab/InC-OW-EU/1.0/", "permission"},
	    {"http://rightsstatements.org/vocab/CNE/1.0/", "permission"},
	    {"http://rightsstatements.org/vocab/NKC/1.0/", "uncategorized"},
	    {"http://creativecommons.org/publicdomain/zero/2.0/", "uncategorized"},
	    {"http://creativecommons.org/licenses/by-xx/4.0/", "uncategorized"},
	    {"http://rightsstatements.org/vocab/inc/1.0/", "uncategorized"},
	    {"ftp://creativecommons.org/licenses/by/4.0/", "uncategorized"},
	    {"", "uncategorized"},
	};
	for (const auto &[uri, category] : table) {
		EXPECT_EQ(ReusabilityOf(uri), category) << uri;
	}
}

} // namespace
} // namespace europeana::core
