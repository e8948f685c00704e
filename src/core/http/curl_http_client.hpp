/*
 * curl_http_client.hpp — HttpClient on a libcurl easy handle.
 *
 * One CurlHttpClient owns one easy handle, driven through a multi handle of its own, and
 * reuses both for every Get: consecutive requests to the same host share a kept-alive
 * connection (and TLS session).  It is not thread safe: use one instance per thread.
 *
 * Every transfer sets CURLOPT_NOSIGNAL (no SIGALRM for DNS timeouts, which would collide
 * with PostgreSQL's own handler), connect and total timeouts, a body cap enforced in the
 * write callback (on decoded bytes, so a gzip bomb is caught too), a redirect limit with
 * http/https as the only allowed protocols, "Accept-Encoding: gzip", and a progress
 * callback that polls ShouldStop.  Because libcurl may call that callback only once a
 * second while a server is silent, the transfer loop also waits on the multi handle in
 * 100 ms slices and polls ShouldStop between them, so a cancel lands within about 0.1 s.
 * No callback ever throws through libcurl: exceptions are captured and rethrown after the
 * transfer.
 */
#pragma once

#include "core/common/no_postgres.hpp"
#include "core/http/http_client.hpp"

#include <memory>

namespace europeana::core {

/*
 * InitCurlOnce calls curl_global_init exactly once per process.  curl_global_init
 * initialises the TLS library and is not thread safe on every libcurl build, so call this
 * from the main thread before any other thread exists: in the harvester background worker
 * right after start-up, in a backend before the first CurlHttpClient is created.  Never
 * call it in the postmaster (forked children would inherit TLS state).  Throws
 * Error(ErrorKind::Internal) if libcurl cannot be initialised; later calls are no-ops.
 * The CurlHttpClient constructor calls it too, as a safety net only.
 */
void InitCurlOnce();

class CurlHttpClient final : public HttpClient {
public:
	/* Creates the handles (calling InitCurlOnce first); throws Error(Internal) on failure. */
	CurlHttpClient();
	~CurlHttpClient() override;
	CurlHttpClient(const CurlHttpClient &) = delete;
	CurlHttpClient &operator=(const CurlHttpClient &) = delete;

	HttpResponse Get(const HttpRequest &request, const ShouldStop &should_stop) override;

private:
	struct Handle;
	std::unique_ptr<Handle> handle_;
};

} // namespace europeana::core
