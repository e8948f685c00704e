/*
 * fetcher.hpp — download image bytes from provider hosts, many at a time.
 *
 * A Fetcher runs a batch of requests with one libcurl multi handle on the calling thread:
 * no threads of its own (libcurl's threaded resolver may start short-lived resolver
 * threads; Run blocks all signals while it drives libcurl so those threads never run
 * PostgreSQL's signal handlers).  Each request names one or more URLs tried in order
 * (the provider's edmIsShownBy, then a thumbnail API URL); a URL fails on a transport
 * error, an HTTP status other than 2xx, a body larger than max_bytes, a body that is not an
 * image by its magic bytes (HTML, PDF, unknown), a visibly truncated body, or Europeana's
 * "no thumbnail" placeholder icon.  Per-URL failures are data (FetchResult::error), not
 * exceptions.
 *
 * Every connection, including each redirect hop, is checked against the AddressPolicy
 * after DNS resolution, on the socket address actually connected to; only http and https
 * are allowed, and proxies from the environment are ignored (a proxy would resolve names
 * on our behalf and defeat that check).
 *
 * Threading and memory: Run calls on_result and should_stop on the calling thread only;
 * libcurl's callbacks only touch the fetcher's own buffers.  Bodies are held in memory up
 * to max_bytes per transfer in flight.  Call InitFetcherCurlOnce() early, before the
 * process starts other threads; the Fetcher constructor calls it too.
 */
#pragma once

#include "core/common/interrupt.hpp"
#include "core/common/no_postgres.hpp"
#include "core/http/address_policy.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace europeana::core {

struct FetchRequest {
	int64_t key = 0;               /* the caller's identifier, copied into the result */
	std::vector<std::string> urls; /* tried in order until one yields an image */
};

struct FetchResult {
	int64_t key = 0;
	bool ok = false;
	std::string body;          /* the image bytes; empty unless ok */
	std::string url;           /* the URL of the request that produced this result (the last one tried) */
	std::string effective_url; /* where the last transfer ended after redirects */
	long http_status = 0;      /* of the last response; 0 when none arrived */
	std::string content_type;  /* Content-Type as sent by the host, may be empty */
	std::string mime;          /* sniffed from the bytes ("image/jpeg"); empty unless ok */
	std::string error;         /* why the last URL failed, when !ok */
	int attempts = 0;          /* URLs tried */
	double seconds = 0;        /* from the first attempt's start to the end of the last */
};

struct FetchOptions {
	int concurrency = 16; /* transfers and connections in flight */
	int per_host = 4;     /* transfers and connections per host name */
	long connect_timeout_ms = 10000;
	long total_timeout_ms = 60000; /* per URL, redirects included */
	size_t max_bytes = 64 << 20;   /* per body, after content decoding */
	int max_redirects = 3;         /* Europeana's own media fetcher follows at most 3 */
	AddressPolicy address;
	std::string user_agent = "pg_europeana/0.1";
};

/* The byte count of Europeana's IMAGE "no thumbnail" icon, served with HTTP 200 by the
 * thumbnail API v2 when it has no thumbnail. */
constexpr size_t kImagePlaceholderBytes = 2319;

/*
 * True for a PNG whose size is one of the thumbnail API v2 default icons (IMAGE 2319,
 * SOUND 2484, VIDEO 1932, TEXT 2180, 3D 3012 bytes).  Recognised by exact size plus the PNG
 * signature because the icons are fixed files and the API sends them as ordinary 200
 * responses; a genuine PNG of exactly one of these sizes is a tiny image and losing it
 * costs nothing.
 */
bool IsPlaceholderIcon(const std::string &body) noexcept;

/* Calls curl_global_init(CURL_GLOBAL_DEFAULT) once per process (std::call_once).  Throws
 * Error(Internal) when it fails. */
void InitFetcherCurlOnce();

class Fetcher {
public:
	/* Checks the options (throws Error(InvalidInput) for non-positive limits) and makes
	 * sure libcurl is initialised. */
	explicit Fetcher(FetchOptions options);

	/*
	 * Fetches every request and calls on_result once per request, on the calling thread,
	 * as each one finishes (in completion order, not request order).  Polls should_stop at
	 * least every 100 ms; when it says stop, aborts everything in flight and throws
	 * Error(Cancelled).  An exception thrown by on_result also aborts the run and
	 * propagates.  Throws Error(Internal) when libcurl cannot be set up.
	 */
	void Run(const std::vector<FetchRequest> &requests, const std::function<void(FetchResult &&)> &on_result,
	         const ShouldStop &should_stop);

	const FetchOptions &
	Options() const noexcept {
		return options_;
	}

private:
	FetchOptions options_;
};

} // namespace europeana::core
