/*
 * http_client.hpp — the HTTP GET seam between harvest logic and the network.
 *
 * Search paging, retry and backoff are written against HttpClient so that unit tests can
 * script responses with a fake; CurlHttpClient (curl_http_client.hpp) is the real one.
 *
 * Contract for every implementation:
 *  - Get returns any HTTP response the server sent, whatever its status: a 404 or a 503
 *    is data for the caller, not an exception.
 *  - Transport failures (DNS, connection refused or reset, TLS, timeout, too many
 *    redirects, a body larger than max_body_bytes) throw Error(ErrorKind::Unavailable).
 *  - A URL that is not http(s) or cannot be parsed throws Error(ErrorKind::InvalidInput).
 *  - When `should_stop` says stop, Get throws Error(ErrorKind::Cancelled) within about a
 *    second.  `should_stop` may be empty.
 *  - Error messages never contain request header values: the Europeana API key travels
 *    in the X-Api-Key header.
 *  - An instance is used by one thread at a time; it never calls PostgreSQL.
 */
#pragma once

#include "core/common/interrupt.hpp"
#include "core/common/no_postgres.hpp"

#include <cstddef>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace europeana::core {

struct HttpRequest {
	std::string url;
	std::vector<std::pair<std::string, std::string>> headers; /* sent as "Name: value" */
	long connect_timeout_ms = 10000;
	long total_timeout_ms = 30000;    /* the whole exchange, redirects included */
	size_t max_body_bytes = 32 << 20; /* decoded bytes; more is a transport failure */
	int max_redirects = 3;            /* 0 returns a 3xx response as is */
};

struct HttpResponse {
	long status = 0;
	std::string body;
	std::string content_type;                   /* as sent, e.g. "application/json;charset=UTF-8"; empty if none */
	std::map<std::string, std::string> headers; /* of the final response; names lower-case, repeats joined by ", " */
	std::string effective_url;                  /* after redirects */
};

class HttpClient {
public:
	virtual ~HttpClient() = default;

	/* Performs one GET (following redirects as the request allows); see the file comment
	 * for what it throws. */
	virtual HttpResponse Get(const HttpRequest &request, const ShouldStop &should_stop) = 0;
};

} // namespace europeana::core
