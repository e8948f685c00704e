/*
 * fetcher_test.cpp — unit tests for the libcurl fetcher against in-process loopback servers.
 *
 * A cpp-httplib server on 127.0.0.1 (and a second one on 127.0.0.2 where the host allows
 * binding it) serves the media behaviours of docs §13: images, 404s, HTML and PDF with
 * status 200, the 2319-byte placeholder icon, redirect chains, slow and stalled hosts,
 * truncated and oversized bodies.  Handlers that wait do so in 10 ms slices and stop
 * waiting when the server shuts down, so a test never waits for a sleeping handler.  The
 * tests use AddressPolicy{allow_private = true}, except the SSRF tests, which point the
 * default policy at a bare listening socket and check that nothing connected to it.
 */
#include "core/http/fetcher.hpp"

#include "core/common/error.hpp"

#include <httplib.h>
#include <zlib.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace europeana::core {
namespace {

using SteadyClock = std::chrono::steady_clock;

double
SecondsSince(SteadyClock::time_point start) {
	return std::chrono::duration<double>(SteadyClock::now() - start).count();
}

/* ---------------------------------------------------------------- image builders */

void
PutBe16(std::string &out, uint32_t v) {
	out += static_cast<char>(v >> 8 & 0xFF);
	out += static_cast<char>(v & 0xFF);
}

void
PutBe32(std::string &out, uint32_t v) {
	PutBe16(out, v >> 16);
	PutBe16(out, v & 0xFFFF);
}

std::string
JpegSegment(uint8_t marker, const std::string &payload) {
	std::string out = {'\xFF', static_cast<char>(marker)};
	PutBe16(out, static_cast<uint32_t>(payload.size() + 2));
	return out + payload;
}

/* A small baseline JPEG, structurally complete (SOI, APP0, DQT, SOF0, SOS, entropy data,
 * EOI); ReadImageHeader reads it as 16x8. */
std::string
MakeJpeg() {
	std::string out = "\xFF\xD8";
	out += JpegSegment(0xE0, std::string("JFIF\0\1\1\0\0\1\0\1\0\0", 14));
	std::string table(1, '\0');
	for (int i = 0; i < 64; i++) {
		table += static_cast<char>(1 + i);
	}
	out += JpegSegment(0xDB, table);
	std::string frame(1, '\x08');
	PutBe16(frame, 8);  /* height */
	PutBe16(frame, 16); /* width */
	frame += std::string("\x03\x01\x22\x00\x02\x11\x00\x03\x11\x00", 10);
	out += JpegSegment(0xC0, frame);
	out += JpegSegment(0xDA, std::string("\x03\x01\x00\x02\x11\x03\x11\x00\x3F\x00", 10));
	out += std::string("\x12\x34\xFF\x00\x56\x78\x9A\xBC\xDE\x01", 10);
	out += "\xFF\xD9";
	return out;
}

std::string
PngChunk(const char *type, const std::string &data) {
	std::string out;
	PutBe32(out, static_cast<uint32_t>(data.size()));
	out += type;
	out += data;
	PutBe32(out, 0); /* the CRC is not checked by the sniffer */
	return out;
}

/* A structurally complete 4x4 PNG padded with a tEXt chunk to exactly `size` bytes. */
std::string
MakePng(size_t size) {
	std::string out = "\x89PNG\r\n\x1A\n";
	std::string ihdr;
	PutBe32(ihdr, 4);
	PutBe32(ihdr, 4);
	ihdr += std::string("\x08\x02\x00\x00\x00", 5);
	out += PngChunk("IHDR", ihdr);
	const std::string idat = PngChunk("IDAT", std::string("\x78\x9C\x01\x02\x03\x04", 6));
	const std::string iend = PngChunk("IEND", "");
	const size_t fixed = out.size() + idat.size() + iend.size() + 12;
	EXPECT_GE(size, fixed);
	out += PngChunk("tEXt", "Comment" + std::string(1, '\0') + std::string(size - fixed - 8, 'x'));
	out += idat;
	out += iend;
	EXPECT_EQ(out.size(), size);
	return out;
}

/* zlib-wrapped deflate, what "Content-Encoding: deflate" means. */
std::string
Deflate(const std::string &data) {
	uLongf length = compressBound(static_cast<uLong>(data.size()));
	std::string out(length, '\0');
	EXPECT_EQ(compress2(reinterpret_cast<Bytef *>(&out[0]), &length, reinterpret_cast<const Bytef *>(data.data()),
	                    static_cast<uLong>(data.size()), 9),
	          Z_OK);
	out.resize(length);
	return out;
}

/* ---------------------------------------------------------------- loopback server */

/* Counters shared by every server of a test, so concurrency across hosts is visible. */
struct Load {
	std::atomic<int> active{0};
	std::atomic<int> peak{0};
	std::atomic<int> requests{0};
	std::atomic<size_t> bytes_sent{0};
};

class LoopbackServer {
public:
	LoopbackServer(const std::string &host, Load &load, std::atomic<bool> &stopping)
	    : host_(host), load_(load), stopping_(stopping) {
		server_.new_task_queue = [] {
			return new httplib::ThreadPool(64);
		};
		server_.set_tcp_nodelay(true);
		/* httplib listens with a backlog of 5; more simultaneous connects than that would
		 * meet a dropped SYN and a 1 s retransmission, so widen it once bound */
		server_.set_socket_options([this](int fd) {
			int one = 1;
			setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
			int none = -1;
			listen_fd_.compare_exchange_strong(none, fd);
		});
		Routes();
		port_ = server_.bind_to_any_port(host_);
		if (port_ <= 0) {
			return;
		}
		listen(listen_fd_.load(), 128);
		thread_ = std::thread([this] {
			server_.listen_after_bind();
		});
		for (int i = 0; i < 500 && !server_.is_running(); i++) {
			std::this_thread::sleep_for(std::chrono::milliseconds(2));
		}
	}

	~LoopbackServer() {
		stopping_ = true;
		server_.stop();
		if (thread_.joinable()) {
			thread_.join();
		}
	}

	bool
	Running() const {
		return port_ > 0 && server_.is_running();
	}

	std::string
	Url(const std::string &path) const {
		return "http://" + host_ + ":" + std::to_string(port_) + path;
	}

private:
	/* Waits `ms` in 10 ms slices; returns false when the server is shutting down. */
	bool
	Wait(long ms) {
		const auto until = SteadyClock::now() + std::chrono::milliseconds(ms);
		while (SteadyClock::now() < until) {
			if (stopping_) {
				return false;
			}
			std::this_thread::sleep_for(std::chrono::milliseconds(10));
		}
		return true;
	}

	void
	Routes() {
		const std::string jpeg = MakeJpeg();
		server_.set_pre_routing_handler([this](const httplib::Request &, httplib::Response &) {
			load_.requests++;
			return httplib::Server::HandlerResponse::Unhandled;
		});
		server_.Get("/jpeg", [jpeg](const httplib::Request &, httplib::Response &res) {
			res.set_content(jpeg, "image/jpeg");
		});
		server_.Get("/jpeg-as-html", [jpeg](const httplib::Request &, httplib::Response &res) {
			res.set_content(jpeg, "text/html");
		});
		server_.Get("/missing", [](const httplib::Request &, httplib::Response &res) {
			res.status = 404;
			res.set_content("{\"error\":\"Media file not found\"}", "application/json");
		});
		server_.Get("/html", [](const httplib::Request &, httplib::Response &res) {
			std::string page = "<!DOCTYPE html>\n<html><head><title>Viewer</title></head><body>";
			page += std::string(4000, ' ') + "</body></html>\n";
			res.set_content(page, "text/html; charset=utf-8");
		});
		server_.Get("/pdf", [](const httplib::Request &, httplib::Response &res) {
			res.set_content("%PDF-1.4\n%\xE2\xE3\xCF\xD3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n", "application/pdf");
		});
		server_.Get(R"(/png/(\d+))", [](const httplib::Request &req, httplib::Response &res) {
			res.set_content(MakePng(std::stoul(req.matches[1])), "image/png");
		});
		server_.Get(R"(/redirect/(\d+))", [jpeg](const httplib::Request &req, httplib::Response &res) {
			const int hops = std::stoi(req.matches[1]);
			if (hops == 0) {
				res.set_content(jpeg, "image/jpeg");
			} else {
				res.set_redirect("/redirect/" + std::to_string(hops - 1));
			}
		});
		server_.Get("/to-file", [](const httplib::Request &, httplib::Response &res) {
			res.set_redirect("file:///etc/passwd");
		});
		server_.Get(R"(/slow/(\d+))", [this, jpeg](const httplib::Request &req, httplib::Response &res) {
			Wait(std::stol(req.matches[1]));
			res.set_content(jpeg, "image/jpeg");
		});
		server_.Get("/stall-body", [this, jpeg](const httplib::Request &, httplib::Response &res) {
			res.set_content_provider(jpeg.size(), "image/jpeg",
			                         [this, jpeg](size_t offset, size_t, httplib::DataSink &sink) {
				                         if (offset == 0) {
					                         return sink.write(jpeg.data(), 10);
				                         }
				                         if (!Wait(5000)) {
					                         return false;
				                         }
				                         return sink.write(jpeg.data() + offset, jpeg.size() - offset);
			                         });
		});
		/* declares the full length, sends half, then closes the connection */
		server_.Get("/truncated", [jpeg](const httplib::Request &, httplib::Response &res) {
			res.set_content_provider(jpeg.size(), "image/jpeg", [jpeg](size_t offset, size_t, httplib::DataSink &sink) {
				if (offset == 0) {
					return sink.write(jpeg.data(), jpeg.size() / 2);
				}
				return false;
			});
		});
		/* a complete HTTP response holding a JPEG without its end: complete=false */
		server_.Get("/cut-jpeg", [jpeg](const httplib::Request &, httplib::Response &res) {
			res.set_content(jpeg.substr(0, jpeg.size() - 6), "image/jpeg");
		});
		server_.Get("/deflated", [jpeg](const httplib::Request &, httplib::Response &res) {
			res.set_header("Content-Encoding", "deflate");
			res.set_content(Deflate(jpeg), "image/jpeg");
		});
		server_.Get(R"(/huge-chunked/(\d+))", [this, jpeg](const httplib::Request &req, httplib::Response &res) {
			const size_t total = std::stoul(req.matches[1]);
			res.set_chunked_content_provider("image/jpeg", [this, jpeg, total](size_t offset, httplib::DataSink &sink) {
				if (offset >= total || stopping_) {
					sink.done();
					return true;
				}
				std::string chunk(64 * 1024, '\x55');
				if (offset == 0) {
					chunk.replace(0, jpeg.size() - 2, jpeg, 0, jpeg.size() - 2);
				}
				if (!sink.write(chunk.data(), chunk.size())) {
					return false;
				}
				load_.bytes_sent += chunk.size();
				return true;
			});
		});
		server_.Get(R"(/huge-declared/(\d+))", [this](const httplib::Request &req, httplib::Response &res) {
			const size_t total = std::stoul(req.matches[1]);
			res.set_content_provider(total, "image/jpeg",
			                         [this, total](size_t offset, size_t, httplib::DataSink &sink) {
				                         if (stopping_) {
					                         return false;
				                         }
				                         const std::string chunk(std::min<size_t>(64 * 1024, total - offset), '\xFF');
				                         if (!sink.write(chunk.data(), chunk.size())) {
					                         return false;
				                         }
				                         load_.bytes_sent += chunk.size();
				                         return true;
			                         });
		});
		/* counts handlers running at once across all servers of the test */
		server_.Get(R"(/latency/(\d+))", [this, jpeg](const httplib::Request &req, httplib::Response &res) {
			const int now = ++load_.active;
			int peak = load_.peak.load();
			while (now > peak && !load_.peak.compare_exchange_weak(peak, now)) {
			}
			Wait(std::stol(req.matches[1]));
			load_.active--;
			res.set_content(jpeg, "image/jpeg");
		});
	}

	std::string host_;
	Load &load_;
	std::atomic<bool> &stopping_;
	httplib::Server server_;
	std::thread thread_;
	std::atomic<int> listen_fd_{-1};
	int port_ = -1;
};

/* ---------------------------------------------------------------- fixture */

class FetcherTest : public ::testing::Test {
protected:
	void
	SetUp() override {
		server_ = std::make_unique<LoopbackServer>("127.0.0.1", load_, stopping_);
		ASSERT_TRUE(server_->Running()) << "cannot start the loopback server";
	}

	void
	TearDown() override {
		stopping_ = true;
		second_.reset();
		server_.reset();
	}

	static FetchOptions
	Options() {
		FetchOptions options;
		options.address.allow_private = true;
		options.connect_timeout_ms = 2000;
		options.total_timeout_ms = 5000;
		return options;
	}

	std::string
	Url(const std::string &path) const {
		return server_->Url(path);
	}

	/* Runs the requests and returns the results by key; each key must come back once. */
	std::map<int64_t, FetchResult>
	Fetch(const std::vector<FetchRequest> &requests, const FetchOptions &options) {
		std::map<int64_t, FetchResult> results;
		Fetcher fetcher(options);
		fetcher.Run(
		    requests,
		    [&results](FetchResult &&result) {
			    const int64_t key = result.key;
			    EXPECT_TRUE(results.emplace(key, std::move(result)).second) << "key " << key << " reported twice";
		    },
		    [] {
			    return false;
		    });
		EXPECT_EQ(results.size(), requests.size());
		return results;
	}

	FetchResult
	FetchOne(const std::vector<std::string> &urls, const FetchOptions &options) {
		auto results = Fetch({FetchRequest{7, urls}}, options);
		return results.count(7) ? results[7] : FetchResult{};
	}

	FetchResult
	FetchOne(const std::vector<std::string> &urls) {
		return FetchOne(urls, Options());
	}

	Load load_;
	std::atomic<bool> stopping_{false};
	std::unique_ptr<LoopbackServer> server_;
	std::unique_ptr<LoopbackServer> second_;
};

/* ---------------------------------------------------------------- success and fallbacks */

TEST_F(FetcherTest, FetchesJpeg) {
	const FetchResult r = FetchOne({Url("/jpeg")});
	EXPECT_TRUE(r.ok) << r.error;
	EXPECT_EQ(r.key, 7);
	EXPECT_EQ(r.body, MakeJpeg());
	EXPECT_EQ(r.url, Url("/jpeg"));
	EXPECT_EQ(r.effective_url, Url("/jpeg"));
	EXPECT_EQ(r.http_status, 200);
	EXPECT_EQ(r.content_type, "image/jpeg");
	EXPECT_EQ(r.mime, "image/jpeg");
	EXPECT_TRUE(r.error.empty());
	EXPECT_EQ(r.attempts, 1);
	EXPECT_GT(r.seconds, 0.0);
	EXPECT_LT(r.seconds, 2.0);
}

TEST_F(FetcherTest, SniffsMimeRegardlessOfContentType) {
	const FetchResult r = FetchOne({Url("/jpeg-as-html")});
	EXPECT_TRUE(r.ok) << r.error;
	EXPECT_EQ(r.content_type, "text/html");
	EXPECT_EQ(r.mime, "image/jpeg");
}

TEST_F(FetcherTest, DecodesContentEncoding) {
	const FetchResult r = FetchOne({Url("/deflated")});
	EXPECT_TRUE(r.ok) << r.error;
	EXPECT_EQ(r.body, MakeJpeg());
}

TEST_F(FetcherTest, FallsBackAfter404) {
	const FetchResult r = FetchOne({Url("/missing"), Url("/jpeg")});
	EXPECT_TRUE(r.ok) << r.error;
	EXPECT_EQ(r.url, Url("/jpeg"));
	EXPECT_EQ(r.attempts, 2);
	EXPECT_EQ(r.body, MakeJpeg());
}

TEST_F(FetcherTest, Reports404) {
	const FetchResult r = FetchOne({Url("/missing")});
	EXPECT_FALSE(r.ok);
	EXPECT_EQ(r.error, "HTTP 404");
	EXPECT_EQ(r.http_status, 404);
	EXPECT_TRUE(r.body.empty());
}

TEST_F(FetcherTest, ReportsLastFailureWhenAllFail) {
	const FetchResult r = FetchOne({Url("/missing"), Url("/pdf"), Url("/html")});
	EXPECT_FALSE(r.ok);
	EXPECT_EQ(r.attempts, 3);
	EXPECT_EQ(r.url, Url("/html"));
	EXPECT_EQ(r.http_status, 200);
	EXPECT_EQ(r.error, "not an image: data looks like an HTML document");
	EXPECT_EQ(r.content_type, "text/html; charset=utf-8");
	EXPECT_TRUE(r.body.empty());
	EXPECT_TRUE(r.mime.empty());
}

TEST_F(FetcherTest, RefusesPdf) {
	const FetchResult r = FetchOne({Url("/pdf")});
	EXPECT_FALSE(r.ok);
	EXPECT_EQ(r.error, "not an image: data looks like a PDF document");
}

TEST_F(FetcherTest, RefusesPlaceholderIcon) {
	const FetchResult r = FetchOne({Url("/png/2319")});
	EXPECT_FALSE(r.ok);
	EXPECT_EQ(r.error, "placeholder thumbnail (2319-byte icon)");
	EXPECT_EQ(r.http_status, 200);

	const FetchResult real = FetchOne({Url("/png/2320")});
	EXPECT_TRUE(real.ok) << real.error;
	EXPECT_EQ(real.mime, "image/png");
	EXPECT_EQ(real.body.size(), 2320u);
}

TEST_F(FetcherTest, PlaceholderFallsBackToNextUrl) {
	const FetchResult r = FetchOne({Url("/png/2319"), Url("/jpeg")});
	EXPECT_TRUE(r.ok) << r.error;
	EXPECT_EQ(r.attempts, 2);
}

TEST(PlaceholderTest, RecognisesIconsBySizeAndSignature) {
	EXPECT_TRUE(IsPlaceholderIcon(MakePng(kImagePlaceholderBytes)));
	for (size_t size : {2484, 1932, 2180, 3012}) {
		EXPECT_TRUE(IsPlaceholderIcon(MakePng(size))) << size;
	}
	EXPECT_FALSE(IsPlaceholderIcon(MakePng(2318)));
	std::string not_png(kImagePlaceholderBytes, 'x');
	EXPECT_FALSE(IsPlaceholderIcon(not_png));
	EXPECT_FALSE(IsPlaceholderIcon(""));
}

TEST_F(FetcherTest, SkipsMalformedAndNonHttpUrls) {
	const FetchResult r = FetchOne({"ftp://127.0.0.1/image.jpg", "not a url", "file:///etc/passwd", Url("/jpeg")});
	EXPECT_TRUE(r.ok) << r.error;
	EXPECT_EQ(r.attempts, 4);

	const FetchResult file = FetchOne({"file:///etc/passwd"});
	EXPECT_FALSE(file.ok);
	EXPECT_EQ(file.error, "unsupported URL scheme file (only http and https are fetched)");

	const FetchResult none = FetchOne({});
	EXPECT_FALSE(none.ok);
	EXPECT_EQ(none.error, "no URL to fetch");
	EXPECT_EQ(none.attempts, 0);
}

/* ---------------------------------------------------------------- redirects */

TEST_F(FetcherTest, FollowsThreeRedirects) {
	const FetchResult r = FetchOne({Url("/redirect/3")});
	EXPECT_TRUE(r.ok) << r.error;
	EXPECT_EQ(r.url, Url("/redirect/3"));
	EXPECT_EQ(r.effective_url, Url("/redirect/0"));
	EXPECT_EQ(r.body, MakeJpeg());
}

TEST_F(FetcherTest, RefusesFourRedirects) {
	const FetchResult r = FetchOne({Url("/redirect/4")});
	EXPECT_FALSE(r.ok);
	EXPECT_EQ(r.error, "too many redirects (more than 3)");
	EXPECT_EQ(load_.requests.load(), 4); /* the fourth redirect is not followed */
}

TEST_F(FetcherTest, RefusesRedirectToOtherScheme) {
	const FetchResult r = FetchOne({Url("/to-file")});
	EXPECT_FALSE(r.ok);
	EXPECT_NE(r.error.find("file"), std::string::npos) << r.error;
}

/* ---------------------------------------------------------------- timeouts and bad bodies */

TEST_F(FetcherTest, TimesOutSlowHost) {
	FetchOptions options = Options();
	options.total_timeout_ms = 300;
	const auto start = SteadyClock::now();
	const FetchResult r = FetchOne({Url("/slow/5000")}, options);
	EXPECT_LT(SecondsSince(start), 1.5);
	EXPECT_FALSE(r.ok);
	EXPECT_EQ(r.error, "timed out after 300 ms");
	EXPECT_LT(r.seconds, 1.5);
}

TEST_F(FetcherTest, TimesOutStalledBody) {
	FetchOptions options = Options();
	options.total_timeout_ms = 300;
	const auto start = SteadyClock::now();
	const FetchResult r = FetchOne({Url("/stall-body")}, options);
	EXPECT_LT(SecondsSince(start), 1.5);
	EXPECT_FALSE(r.ok);
	EXPECT_EQ(r.error, "timed out after 300 ms");
	EXPECT_TRUE(r.body.empty());
}

TEST_F(FetcherTest, TimeoutFallsBackToNextUrl) {
	FetchOptions options = Options();
	options.total_timeout_ms = 300;
	const FetchResult r = FetchOne({Url("/slow/5000"), Url("/jpeg")}, options);
	EXPECT_TRUE(r.ok) << r.error;
	EXPECT_EQ(r.attempts, 2);
}

TEST_F(FetcherTest, ReportsTruncatedBody) {
	const FetchResult r = FetchOne({Url("/truncated")});
	EXPECT_FALSE(r.ok);
	EXPECT_EQ(r.error.rfind("truncated body: ", 0), 0u) << r.error;
	EXPECT_TRUE(r.body.empty());
}

TEST_F(FetcherTest, ReportsTruncatedImage) {
	const FetchResult r = FetchOne({Url("/cut-jpeg")});
	EXPECT_FALSE(r.ok);
	EXPECT_EQ(r.error, "truncated image: the jpeg data ends before its end marker");
}

TEST_F(FetcherTest, StopsOversizeStreamEarly) {
	FetchOptions options = Options();
	options.max_bytes = 1 << 20;
	const size_t total = size_t{256} << 20;
	const auto start = SteadyClock::now();
	const FetchResult r = FetchOne({Url("/huge-chunked/" + std::to_string(total))}, options);
	EXPECT_FALSE(r.ok);
	EXPECT_EQ(r.error, "exceeds 1048576 bytes");
	EXPECT_TRUE(r.body.empty());
	EXPECT_LT(SecondsSince(start), 3.0);
	/* the server could only push what fits in the socket buffers after the abort */
	EXPECT_LT(load_.bytes_sent.load(), total / 4);
}

TEST_F(FetcherTest, RefusesDeclaredOversizeBody) {
	FetchOptions options = Options();
	options.max_bytes = 1 << 20;
	const FetchResult r = FetchOne({Url("/huge-declared/" + std::to_string(size_t{256} << 20))}, options);
	EXPECT_FALSE(r.ok);
	EXPECT_EQ(r.error, "exceeds 1048576 bytes");
}

TEST_F(FetcherTest, AcceptsBodyOfExactlyMaxBytes) {
	FetchOptions options = Options();
	options.max_bytes = MakeJpeg().size();
	EXPECT_TRUE(FetchOne({Url("/jpeg")}, options).ok);
	options.max_bytes = MakeJpeg().size() - 1;
	const FetchResult r = FetchOne({Url("/jpeg")}, options);
	EXPECT_FALSE(r.ok);
	EXPECT_EQ(r.error, "exceeds " + std::to_string(options.max_bytes) + " bytes");
}

/* ---------------------------------------------------------------- concurrency */

TEST_F(FetcherTest, RespectsPerHostLimit) {
	FetchOptions options = Options();
	options.per_host = 2;
	std::vector<FetchRequest> requests;
	for (int i = 0; i < 10; i++) {
		requests.push_back({i, {Url("/latency/100")}});
	}
	const auto results = Fetch(requests, options);
	for (const auto &entry : results) {
		EXPECT_TRUE(entry.second.ok) << entry.second.error;
	}
	EXPECT_EQ(load_.peak.load(), 2);
}

TEST_F(FetcherTest, RunsRequestsConcurrently) {
	FetchOptions options = Options();
	options.concurrency = 16;
	options.per_host = 16;
	std::vector<FetchRequest> requests;
	for (int i = 0; i < 20; i++) {
		requests.push_back({i, {Url("/latency/200")}});
	}
	const auto start = SteadyClock::now();
	const auto results = Fetch(requests, options);
	EXPECT_LT(SecondsSince(start), 1.5);
	for (const auto &entry : results) {
		EXPECT_TRUE(entry.second.ok) << entry.second.error;
	}
	EXPECT_GT(load_.peak.load(), 4);
	EXPECT_LE(load_.peak.load(), 16);
}

/* Requests sorted by host must not leave slots idle behind the first host's limit. */
TEST_F(FetcherTest, SchedulesAcrossHosts) {
	second_ = std::make_unique<LoopbackServer>("127.0.0.2", load_, stopping_);
	if (!second_->Running()) {
		GTEST_SKIP() << "cannot bind 127.0.0.2";
	}
	FetchOptions options = Options();
	options.concurrency = 4;
	options.per_host = 2;
	std::vector<FetchRequest> requests;
	for (int i = 0; i < 6; i++) {
		requests.push_back({i, {Url("/latency/200")}});
	}
	for (int i = 6; i < 12; i++) {
		requests.push_back({i, {second_->Url("/latency/200")}});
	}
	const auto start = SteadyClock::now();
	const auto results = Fetch(requests, options);
	for (const auto &entry : results) {
		EXPECT_TRUE(entry.second.ok) << entry.second.error;
	}
	EXPECT_EQ(load_.peak.load(), 4);
	EXPECT_LT(SecondsSince(start), 0.9); /* 3 rounds of 200 ms; host after host would take 5 */
}

TEST_F(FetcherTest, ReportsEveryRequestOnce) {
	FetchOptions options = Options();
	options.concurrency = 5;
	options.per_host = 3;
	std::vector<FetchRequest> requests;
	const char *paths[] = {"/jpeg", "/missing", "/html", "/redirect/2", "/png/2319", "/pdf", "/cut-jpeg"};
	for (int i = 0; i < 70; i++) {
		requests.push_back({1000 + i, {Url(paths[i % 7])}});
	}
	const auto results = Fetch(requests, options);
	ASSERT_EQ(results.size(), 70u);
	for (const auto &entry : results) {
		const int kind = static_cast<int>(entry.first - 1000) % 7;
		EXPECT_EQ(entry.second.ok, kind == 0 || kind == 3) << entry.first << ": " << entry.second.error;
	}
}

/* ---------------------------------------------------------------- cancellation and errors */

TEST_F(FetcherTest, CancelsPromptly) {
	std::vector<FetchRequest> requests;
	for (int i = 0; i < 8; i++) {
		requests.push_back({i, {Url("/latency/10000")}});
	}
	Fetcher fetcher(Options());
	const auto start = SteadyClock::now();
	SteadyClock::time_point stop_at = start + std::chrono::milliseconds(200);
	int results = 0;
	try {
		fetcher.Run(
		    requests,
		    [&results](FetchResult &&) {
			    results++;
		    },
		    [stop_at] {
			    return SteadyClock::now() >= stop_at;
		    });
		ADD_FAILURE() << "Run returned instead of throwing Cancelled";
	} catch (const Error &e) {
		EXPECT_EQ(e.Kind(), ErrorKind::Cancelled);
	}
	EXPECT_LT(std::chrono::duration<double>(SteadyClock::now() - stop_at).count(), 0.5);
	EXPECT_EQ(results, 0);
	EXPECT_GT(load_.peak.load(), 0);

	/* the fetcher is usable again */
	load_.peak = 0;
	std::vector<FetchResult> again;
	fetcher.Run(
	    {{1, {Url("/jpeg")}}},
	    [&again](FetchResult &&r) {
		    again.push_back(std::move(r));
	    },
	    [] {
		    return false;
	    });
	ASSERT_EQ(again.size(), 1u);
	EXPECT_TRUE(again[0].ok) << again[0].error;
}

TEST_F(FetcherTest, PropagatesCallbackException) {
	Fetcher fetcher(Options());
	std::vector<FetchRequest> requests = {{1, {Url("/jpeg")}}, {2, {Url("/latency/3000")}}};
	EXPECT_THROW(fetcher.Run(
	                 requests,
	                 [](FetchResult &&) {
		                 throw std::runtime_error("sink failed");
	                 },
	                 [] {
		                 return false;
	                 }),
	             std::runtime_error);
}

TEST(FetcherOptionsTest, RejectsNonsenseLimits) {
	FetchOptions options;
	options.concurrency = 0;
	EXPECT_THROW(Fetcher{options}, Error);
	options = FetchOptions{};
	options.per_host = 0;
	EXPECT_THROW(Fetcher{options}, Error);
	options = FetchOptions{};
	options.total_timeout_ms = 0;
	EXPECT_THROW(Fetcher{options}, Error);
	options = FetchOptions{};
	options.max_bytes = 0;
	EXPECT_THROW(Fetcher{options}, Error);
	options = FetchOptions{};
	options.max_redirects = -1;
	EXPECT_THROW(Fetcher{options}, Error);
	EXPECT_NO_THROW(Fetcher{FetchOptions{}});
}

/* ---------------------------------------------------------------- SSRF */

/* A listening socket nobody accepts on: a completed TCP handshake would sit in its backlog. */
class BareListener {
public:
	BareListener() {
		fd_ = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		sockaddr_in address{};
		address.sin_family = AF_INET;
		address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		socklen_t length = sizeof(address);
		if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr *>(&address), length) != 0 || listen(fd_, 16) != 0 ||
		    getsockname(fd_, reinterpret_cast<sockaddr *>(&address), &length) != 0) {
			ADD_FAILURE() << "cannot open a listening socket";
			return;
		}
		port_ = ntohs(address.sin_port);
	}
	~BareListener() {
		if (fd_ >= 0) {
			close(fd_);
		}
	}

	int
	Port() const {
		return port_;
	}

	/* True when some client completed a connection to the socket. */
	bool
	WasConnected() {
		const int client = accept(fd_, nullptr, nullptr);
		if (client >= 0) {
			close(client);
			return true;
		}
		EXPECT_TRUE(errno == EAGAIN || errno == EWOULDBLOCK) << errno;
		return false;
	}

private:
	int fd_ = -1;
	int port_ = 0;
};

TEST(FetcherSsrfTest, RefusesLoopbackAfterResolution) {
	BareListener listener;
	FetchOptions options; /* allow_private = false */
	options.connect_timeout_ms = 2000;
	options.total_timeout_ms = 3000;
	const std::string port = std::to_string(listener.Port());
	std::vector<FetchRequest> requests = {
	    {1, {"http://127.0.0.1:" + port + "/image.jpg"}},  {2, {"http://localhost:" + port + "/image.jpg"}},
	    {3, {"http://[::1]:" + port + "/image.jpg"}},      {4, {"http://[::ffff:127.0.0.1]:" + port + "/image.jpg"}},
	    {5, {"http://2130706433:" + port + "/image.jpg"}}, /* 127.0.0.1 as one number */
	};
	std::map<int64_t, FetchResult> results;
	Fetcher fetcher(options);
	fetcher.Run(
	    requests,
	    [&results](FetchResult &&r) {
		    results.emplace(r.key, std::move(r));
	    },
	    [] {
		    return false;
	    });
	ASSERT_EQ(results.size(), requests.size());
	EXPECT_EQ(results[1].error, "refused address 127.0.0.1 (loopback)");
	EXPECT_TRUE(results[2].error == "refused address 127.0.0.1 (loopback)" ||
	            results[2].error == "refused address ::1 (loopback)")
	    << results[2].error;
	EXPECT_EQ(results[3].error, "refused address ::1 (loopback)");
	EXPECT_EQ(results[5].error, "refused address 127.0.0.1 (loopback)");
	for (auto &entry : results) {
		EXPECT_FALSE(entry.second.ok) << entry.first;
		EXPECT_EQ(entry.second.error.rfind("refused address ", 0), 0u) << entry.first << ": " << entry.second.error;
		EXPECT_EQ(entry.second.http_status, 0) << entry.first;
	}
	EXPECT_FALSE(listener.WasConnected());
}

TEST(FetcherSsrfTest, RefusedUrlFallsBackToNextUrl) {
	BareListener listener;
	FetchOptions options;
	const std::string port = std::to_string(listener.Port());
	Fetcher fetcher(options);
	std::vector<FetchResult> results;
	fetcher.Run(
	    {{1, {"http://127.0.0.1:" + port + "/a", "http://127.0.0.1:" + port + "/b"}}},
	    [&results](FetchResult &&r) {
		    results.push_back(std::move(r));
	    },
	    [] {
		    return false;
	    });
	ASSERT_EQ(results.size(), 1u);
	EXPECT_FALSE(results[0].ok);
	EXPECT_EQ(results[0].attempts, 2);
	EXPECT_EQ(results[0].url, "http://127.0.0.1:" + port + "/b");
	EXPECT_FALSE(listener.WasConnected());
}

} // namespace
} // namespace europeana::core
