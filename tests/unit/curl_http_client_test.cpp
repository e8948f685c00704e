/*
 * curl_http_client_test.cpp — CurlHttpClient against an in-process HTTP server.
 *
 * A cpp-httplib server listens on 127.0.0.1 with a kernel-chosen port in a thread of the
 * test process, so these tests need no network.  Debian's cpp-httplib is a compiled
 * library: build with `pkg-config --cflags --libs cpp-httplib` so the header sees the same
 * feature macros (OpenSSL, zlib, brotli) as the library; with zlib the server gzips JSON,
 * which exercises the client's decoding.  Its slow handler sleeps in short slices
 * and gives up when the fixture shuts down, so a cancelled or timed-out request never
 * holds up the test's teardown for long.
 */
#include "core/http/curl_http_client.hpp"

#include "core/api/search_client.hpp"
#include "core/common/error.hpp"

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace europeana::core {
namespace {

using Seconds = std::chrono::duration<double>;

const char kSecret[] = "secret-key-123";
const char kCursor[] = "AoJ4+/kP=="; /* base64 with every character that needs encoding */
constexpr size_t kBigBytes = 1 << 20;

/* A compressible JSON body of about 37 kB (a few kB gzipped). */
std::string
JsonBody() {
	std::string body = "{\"items\":[";
	for (int i = 0; i < 2000; i++) {
		body += (i ? ",\"" : "\"") + std::string("item number ") + std::to_string(i) + "\"";
	}
	return body + "]}";
}

class TestServer {
public:
	TestServer() {
		server_.Get("/echo", [](const httplib::Request &req, httplib::Response &res) {
			res.set_header("RateLimit", "\"personal\";r=5;t=42");
			res.set_header("X-Twice", "one");
			res.set_header("X-Twice", "two");
			res.set_content(req.get_header_value("X-Api-Key") + "|" + req.get_header_value("Accept-Encoding"),
			                "application/json;charset=UTF-8");
		});
		server_.Get("/json", [](const httplib::Request &, httplib::Response &res) {
			res.set_content(JsonBody(), "application/json");
		});
		/* A two-page search: checks the key header and that the cursor arrives intact. */
		server_.Get("/record/v2/search.json", [](const httplib::Request &req, httplib::Response &res) {
			if (req.get_header_value("X-Api-Key") != kSecret || req.has_param("wskey")) {
				res.status = 401;
				res.set_content(R"({"success":false,"error":"API key is invalid","code":"401_key_invalid"})",
				                "application/json");
				return;
			}
			const std::string cursor = req.get_param_value("cursor");
			const bool first = cursor == "*";
			if (!first && cursor != kCursor) {
				res.status = 400;
				res.set_content(R"({"success":false,"error":"Invalid cursor value.","code":"400-SC"})",
				                "application/json");
				return;
			}
			const std::string id = first ? "/1/a" : "/1/b";
			res.set_content(std::string(R"({"success":true,"totalResults":2,)") +
			                    (first ? std::string(R"("nextCursor":")") + kCursor + "\"," : "") +
			                    R"("items":[{"id":")" + id + R"(","link":"https://api.europeana.eu/record)" + id +
			                    ".json?wskey=" + req.get_header_value("X-Api-Key") + R"("}]})",
			                "application/json;charset=UTF-8");
		});
		server_.Get("/port", [](const httplib::Request &req, httplib::Response &res) {
			res.set_content(std::to_string(req.remote_port), "text/plain");
		});
		server_.Get("/unavailable", [](const httplib::Request &, httplib::Response &res) {
			res.status = 503;
			res.set_content("<html>down</html>", "text/html");
		});
		server_.Get(R"(/redirect/(\d+))", [](const httplib::Request &req, httplib::Response &res) {
			const int left = std::stoi(req.matches[1]);
			if (left == 0) {
				res.set_content("landed", "text/plain");
			} else {
				res.set_redirect("/redirect/" + std::to_string(left - 1), 302);
			}
		});
		server_.Get("/to-ftp", [](const httplib::Request &, httplib::Response &res) {
			res.set_redirect("ftp://127.0.0.1/file", 302);
		});
		server_.Get("/big", [](const httplib::Request &, httplib::Response &res) {
			res.set_content(std::string(kBigBytes, 'x'), "application/octet-stream");
		});
		server_.Get("/big-chunked", [](const httplib::Request &, httplib::Response &res) {
			res.set_chunked_content_provider("application/octet-stream", [](size_t offset, httplib::DataSink &sink) {
				if (offset >= kBigBytes) {
					sink.done();
					return true;
				}
				const std::string chunk(64 * 1024, 'y');
				return sink.write(chunk.data(), chunk.size());
			});
		});
		server_.Get("/slow", [this](const httplib::Request &, httplib::Response &res) {
			const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
			while (!stopping_ && std::chrono::steady_clock::now() < until) {
				std::this_thread::sleep_for(std::chrono::milliseconds(10));
			}
			res.set_content("late", "text/plain");
		});
		port_ = server_.bind_to_any_port("127.0.0.1");
		thread_ = std::thread([this] { server_.listen_after_bind(); });
		for (int i = 0; i < 500 && !server_.is_running(); i++) {
			std::this_thread::sleep_for(std::chrono::milliseconds(10));
		}
	}

	~TestServer() {
		stopping_ = true;
		server_.stop();
		thread_.join();
	}

	int
	Port() const {
		return port_;
	}

	std::string
	Url(const std::string &path) const {
		return "http://127.0.0.1:" + std::to_string(port_) + path;
	}

private:
	httplib::Server server_;
	std::thread thread_;
	std::atomic<bool> stopping_ {false};
	int port_ = -1;
};

class CurlHttpClientTest : public ::testing::Test {
protected:
	static void
	SetUpTestSuite() {
		InitCurlOnce();
	}

	HttpRequest
	Request(const std::string &path) const {
		HttpRequest request;
		request.url = server_.Url(path);
		request.headers = {{"X-Api-Key", kSecret}};
		request.connect_timeout_ms = 2000;
		request.total_timeout_ms = 5000;
		return request;
	}

	TestServer server_;
	CurlHttpClient client_;
	const ShouldStop never_ = [] {
		return false;
	};
};

/* Runs `fn`, expecting an Error of `kind` whose message does not leak the key header. */
template <typename Fn>
std::string
ExpectError(ErrorKind kind, Fn fn) {
	try {
		fn();
	} catch (const Error &e) {
		EXPECT_EQ(static_cast<int>(e.Kind()), static_cast<int>(kind)) << e.what();
		EXPECT_EQ(std::string(e.what()).find(kSecret), std::string::npos) << e.what();
		return e.what();
	}
	ADD_FAILURE() << "no Error thrown";
	return {};
}

TEST_F(CurlHttpClientTest, SendsHeadersAndReadsTheResponse) {
	const HttpResponse response = client_.Get(Request("/echo"), never_);
	EXPECT_EQ(response.status, 200);
	EXPECT_EQ(response.body, std::string(kSecret) + "|gzip");

	EXPECT_EQ(response.content_type, "application/json;charset=UTF-8");
	EXPECT_EQ(response.headers.at("ratelimit"), "\"personal\";r=5;t=42");
	EXPECT_EQ(response.headers.at("x-twice"), "one, two");
	EXPECT_EQ(response.effective_url, server_.Url("/echo"));
}

TEST_F(CurlHttpClientTest, DecodesGzip) {
	const HttpResponse response = client_.Get(Request("/json"), never_);
	EXPECT_EQ(response.status, 200);
	EXPECT_EQ(response.body, JsonBody());
#ifdef CPPHTTPLIB_ZLIB_SUPPORT
	ASSERT_EQ(response.headers.count("content-encoding"), 1u);
	EXPECT_EQ(response.headers.at("content-encoding"), "gzip");

	/* The cap applies to decoded bytes: a small compressed body that inflates past it fails. */
	HttpRequest capped = Request("/json");
	capped.max_body_bytes = 10000;
	ASSERT_GT(JsonBody().size(), capped.max_body_bytes);
	ExpectError(ErrorKind::Unavailable, [&] { client_.Get(capped, never_); });
#endif
}

TEST_F(CurlHttpClientTest, ErrorStatusIsAResponse) {
	const HttpResponse response = client_.Get(Request("/unavailable"), never_);
	EXPECT_EQ(response.status, 503);
	EXPECT_EQ(response.body, "<html>down</html>");
	EXPECT_EQ(response.content_type, "text/html");
	EXPECT_EQ(client_.Get(Request("/no-such-path"), never_).status, 404);
}

TEST_F(CurlHttpClientTest, ReusesTheConnection) {
	const std::string first = client_.Get(Request("/port"), never_).body;
	const std::string second = client_.Get(Request("/port"), never_).body;
	EXPECT_EQ(first, second) << "the second request should reuse the kept-alive connection";
}

TEST_F(CurlHttpClientTest, FollowsRedirectsUpToTheLimit) {
	const HttpResponse response = client_.Get(Request("/redirect/3"), never_);
	EXPECT_EQ(response.status, 200);
	EXPECT_EQ(response.body, "landed");
	EXPECT_EQ(response.effective_url, server_.Url("/redirect/0"));

	const std::string message =
	    ExpectError(ErrorKind::Unavailable, [&] { client_.Get(Request("/redirect/4"), never_); });
	EXPECT_NE(message.find("more than 3 redirects"), std::string::npos) << message;

	HttpRequest no_follow = Request("/redirect/1");
	no_follow.max_redirects = 0;
	const HttpResponse redirect = client_.Get(no_follow, never_);
	EXPECT_EQ(redirect.status, 302);
	EXPECT_EQ(redirect.headers.at("location"), "/redirect/0");
}

TEST_F(CurlHttpClientTest, RefusesRedirectToOtherProtocols) {
	ExpectError(ErrorKind::Unavailable, [&] { client_.Get(Request("/to-ftp"), never_); });
	ExpectError(ErrorKind::InvalidInput, [&] {
		HttpRequest request = Request("/x");
		request.url = "ftp://127.0.0.1/file";
		client_.Get(request, never_);
	});
}

TEST_F(CurlHttpClientTest, CapsTheBody) {
	HttpRequest request = Request("/big");
	request.max_body_bytes = 1000;
	std::string message = ExpectError(ErrorKind::Unavailable, [&] { client_.Get(request, never_); });
	EXPECT_NE(message.find("larger than 1000 bytes"), std::string::npos) << message;

	/* No Content-Length: the write callback has to catch it. */
	request = Request("/big-chunked");
	request.max_body_bytes = 100000;
	message = ExpectError(ErrorKind::Unavailable, [&] { client_.Get(request, never_); });
	EXPECT_NE(message.find("larger than 100000 bytes"), std::string::npos) << message;

	request = Request("/big");
	request.max_body_bytes = kBigBytes;
	EXPECT_EQ(client_.Get(request, never_).body.size(), kBigBytes);
	/* The handle is still usable after an aborted transfer. */
	EXPECT_EQ(client_.Get(Request("/echo"), never_).status, 200);
}

TEST_F(CurlHttpClientTest, TimesOut) {
	HttpRequest request = Request("/slow");
	request.total_timeout_ms = 300;
	const auto start = std::chrono::steady_clock::now();
	const std::string message = ExpectError(ErrorKind::Unavailable, [&] { client_.Get(request, never_); });
	EXPECT_LT(Seconds(std::chrono::steady_clock::now() - start).count(), 2.0);
	EXPECT_NE(message.find("timed out"), std::string::npos) << message;
}

TEST_F(CurlHttpClientTest, CancelsASlowResponse) {
	const auto start = std::chrono::steady_clock::now();
	const ShouldStop stop_after_300ms = [&] {
		return std::chrono::steady_clock::now() - start > std::chrono::milliseconds(300);
	};
	ExpectError(ErrorKind::Cancelled, [&] { client_.Get(Request("/slow"), stop_after_300ms); });
	const double elapsed = Seconds(std::chrono::steady_clock::now() - start).count();
	EXPECT_LT(elapsed, 1.0) << "a cancel must be honoured well within a second";
	EXPECT_EQ(client_.Get(Request("/echo"), never_).status, 200);
}

TEST_F(CurlHttpClientTest, RefusesHeaderInjection) {
	HttpRequest request = Request("/echo");
	request.headers = {{"X-Api-Key", std::string(kSecret) + "\r\nX-Evil: 1"}};
	ExpectError(ErrorKind::InvalidInput, [&] { client_.Get(request, never_); });
}

TEST_F(CurlHttpClientTest, CancelledBeforeStarting) {
	ExpectError(ErrorKind::Cancelled, [&] { client_.Get(Request("/echo"), [] { return true; }); });
}

TEST_F(CurlHttpClientTest, SearchPagesOverHttp) {
	SearchQuery query;
	query.base_url = server_.Url("/record/v2/search.json");
	query.api_key = kSecret;
	query.qf = {"TYPE:IMAGE", "RIGHTS:http://creativecommons.org/*"};
	SearchClient search(client_, SystemClock(), RetryPolicy {});
	CursorPager pager(search, query);
	std::vector<std::string> ids;
	SearchPage page;
	while (pager.Next(&page, never_)) {
		for (const auto &item : page.items) {
			ids.push_back(item.id);
			EXPECT_EQ(item.json.find(kSecret), std::string::npos) << item.json;
		}
	}
	EXPECT_EQ(ids, (std::vector<std::string> {"/1/a", "/1/b"}));
	EXPECT_EQ(pager.Cursor(), kCursor);
}

TEST(CurlHttpClient, ConnectionRefused) {
	InitCurlOnce();
	std::string url;
	{
		TestServer gone;
		url = gone.Url("/echo");
	}
	CurlHttpClient client;
	HttpRequest request;
	request.url = url;
	request.headers = {{"X-Api-Key", kSecret}};
	const std::string message = ExpectError(ErrorKind::Unavailable, [&] { client.Get(request, nullptr); });
	EXPECT_NE(message.find("127.0.0.1"), std::string::npos) << message;
}

TEST(CurlHttpClient, KeyInUrlIsMaskedInMessages) {
	InitCurlOnce();
	std::string url;
	{
		TestServer gone;
		url = gone.Url(std::string("/search.json?query=*&wskey=") + kSecret + "&rows=1");
	}
	CurlHttpClient client;
	HttpRequest request;
	request.url = url;
	const std::string message = ExpectError(ErrorKind::Unavailable, [&] { client.Get(request, nullptr); });
	EXPECT_NE(message.find("wskey=***"), std::string::npos) << message;
}

} // namespace
} // namespace europeana::core
