/*
 * curl_http_client.cpp — libcurl implementation of HttpClient.
 *
 * The callbacks run inside curl_multi_perform on the calling thread.  They only touch the
 * Transfer they are given, never throw (exceptions are stored and rethrown after the
 * transfer), and never call PostgreSQL.  Error messages are built from the URL (with any wskey value
 * masked) and libcurl's error text, never from request headers.
 */
#include "core/http/curl_http_client.hpp"

#include "core/common/error.hpp"
#include "core/common/strings.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <chrono>
#include <cctype>
#include <exception>
#include <memory>
#include <new>
#include <string>

namespace europeana::core {

namespace {

constexpr char kReachHint[] =
    "Check that the server is reachable from the database server (DNS, proxy, firewall).";

constexpr const char kUserAgent[] = "pg_europeana (libcurl)";
/* How often a waiting transfer polls ShouldStop: a cancel lands well within a second. */
constexpr std::chrono::milliseconds kPollInterval {100};

/* State shared with the callbacks for one transfer. */
struct Transfer {
	const ShouldStop *should_stop = nullptr;
	HttpResponse *response = nullptr;
	size_t max_body_bytes = 0;
	bool cancelled = false;
	bool too_large = false;
	std::exception_ptr failure;
};

struct SlistDeleter {
	void
	operator()(curl_slist *list) const noexcept {
		curl_slist_free_all(list);
	}
};
using Slist = std::unique_ptr<curl_slist, SlistDeleter>;

bool
IsHttpUrl(const std::string &url) {
	const std::string head = AsciiLower(url.substr(0, 8));
	return head.rfind("http://", 0) == 0 || head.rfind("https://", 0) == 0;
}

/* The URL for an error message: a wskey= value (a legacy way to pass the API key) is
 * masked so that the key cannot reach a log even if a caller put it in the URL. */
std::string
UrlForMessage(const std::string &url) {
	std::string out = url;
	const std::string lowered = AsciiLower(url);
	size_t pos = 0;
	while ((pos = lowered.find("wskey=", pos)) != std::string::npos) {
		const size_t value_begin = pos + 6;
		size_t value_end = out.find_first_of("&#", value_begin);
		if (value_end == std::string::npos) {
			value_end = out.size();
		}
		/* Keep positions aligned with `lowered` by replacing with the same length. */
		std::fill(out.begin() + value_begin, out.begin() + value_end, '*');
		pos = value_end;
	}
	if (out.size() > 300) {
		out = out.substr(0, 300) + "...";
	}
	return out;
}

/* CURLOPT_WRITEFUNCTION: appends decoded body bytes, refusing more than the cap. */
size_t
WriteBody(char *data, size_t size, size_t count, void *user) {
	auto *transfer = static_cast<Transfer *>(user);
	const size_t bytes = size * count;
	std::string &body = transfer->response->body;
	if (bytes > transfer->max_body_bytes - std::min(body.size(), transfer->max_body_bytes)) {
		transfer->too_large = true;
		return 0; /* anything but `bytes` aborts with CURLE_WRITE_ERROR */
	}
	try {
		body.append(data, bytes);
	} catch (...) {
		transfer->failure = std::current_exception();
		return 0;
	}
	return bytes;
}

/* CURLOPT_HEADERFUNCTION: collects the headers of the last response; a status line
 * starts a new response (each redirect hop sends its own set). */
size_t
WriteHeader(char *data, size_t size, size_t count, void *user) {
	auto *transfer = static_cast<Transfer *>(user);
	const size_t bytes = size * count;
	try {
		const std::string line(data, bytes);
		auto &headers = transfer->response->headers;
		if (line.rfind("HTTP/", 0) == 0) {
			headers.clear();
			return bytes;
		}
		const size_t colon = line.find(':');
		if (colon == std::string::npos || colon == 0) {
			return bytes;
		}
		const std::string name = AsciiLower(Trim(line.substr(0, colon)));
		const std::string value = Trim(line.substr(colon + 1));
		auto found = headers.find(name);
		if (found == headers.end()) {
			headers.emplace(name, value);
		} else {
			found->second += ", " + value;
		}
	} catch (...) {
		transfer->failure = std::current_exception();
		return 0;
	}
	return bytes;
}

/* CURLOPT_XFERINFOFUNCTION: libcurl calls it at least once a second while a transfer is
 * active (also while resolving and connecting); non-zero aborts the transfer. */
int
PollStop(void *user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
	auto *transfer = static_cast<Transfer *>(user);
	if (!transfer->should_stop || !*transfer->should_stop) {
		return 0;
	}
	try {
		if ((*transfer->should_stop)()) {
			transfer->cancelled = true;
			return 1;
		}
	} catch (...) {
		transfer->failure = std::current_exception();
		return 1;
	}
	return 0;
}

template <typename T>
void
SetOption(CURL *curl, CURLoption option, T value) {
	const CURLcode rc = curl_easy_setopt(curl, option, value);
	if (rc != CURLE_OK) {
		throw Error(ErrorKind::Internal, std::string("could not configure libcurl: ") + curl_easy_strerror(rc));
	}
}

/* Fails the call when the multi interface itself reports an error (a bug or out of memory). */
void
CheckMulti(CURLMcode rc) {
	if (rc != CURLM_OK) {
		throw Error(ErrorKind::Internal, std::string("libcurl failed: ") + curl_multi_strerror(rc));
	}
}

/*
 * Perform runs the configured transfer on `multi`, waking at least every kPollInterval to
 * ask should_stop (the progress callback asks it as well, but libcurl may call that only
 * once a second while a server is silent).  On a stop it sets transfer->cancelled and
 * returns CURLE_ABORTED_BY_CALLBACK; removing the easy handle aborts the transfer and
 * closes its connection.  Otherwise it returns the transfer's result.
 */
CURLcode
Perform(CURLM *multi, CURL *easy, const ShouldStop &should_stop, Transfer *transfer) {
	CheckMulti(curl_multi_add_handle(multi, easy));
	struct RemoveOnExit {
		CURLM *multi;
		CURL *easy;
		~RemoveOnExit() {
			curl_multi_remove_handle(multi, easy);
		}
	} remove_on_exit {multi, easy};

	for (;;) {
		int running = 0;
		CheckMulti(curl_multi_perform(multi, &running));
		if (running == 0) {
			break;
		}
		if (should_stop && should_stop()) {
			transfer->cancelled = true;
			return CURLE_ABORTED_BY_CALLBACK;
		}
		CheckMulti(curl_multi_poll(multi, nullptr, 0, static_cast<int>(kPollInterval.count()), nullptr));
	}
	int queued = 0;
	while (CURLMsg *message = curl_multi_info_read(multi, &queued)) {
		if (message->msg == CURLMSG_DONE && message->easy_handle == easy) {
			return message->data.result;
		}
	}
	throw Error(ErrorKind::Internal, "libcurl finished a transfer without a result");
}

} // namespace

void
InitCurlOnce() {
	/* A function-local static: initialised exactly once, thread-safely, on first use. */
	static const CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
	if (rc != CURLE_OK) {
		throw Error(ErrorKind::Internal, std::string("could not initialise libcurl: ") + curl_easy_strerror(rc));
	}
}

/* One multi handle driving one easy handle.  The multi handle owns the connection cache,
 * so it lives as long as the client and keeps connections alive between calls. */
struct CurlHttpClient::Handle {
	CURLM *multi = nullptr;
	CURL *easy = nullptr;
	~Handle() {
		if (easy) {
			curl_easy_cleanup(easy);
		}
		if (multi) {
			curl_multi_cleanup(multi);
		}
	}
};

CurlHttpClient::CurlHttpClient() : handle_(std::make_unique<Handle>()) {
	InitCurlOnce();
	handle_->multi = curl_multi_init();
	handle_->easy = curl_easy_init();
	if (!handle_->multi || !handle_->easy) {
		throw Error(ErrorKind::Internal, "could not create a libcurl handle");
	}
}

CurlHttpClient::~CurlHttpClient() = default;

/*
 * Get performs one GET on the kept easy handle.  curl_easy_reset clears the request's
 * options afterwards but keeps the connection cache, so keep-alive survives between calls.
 * Throws Error: InvalidInput for a non-http(s) or malformed URL, Cancelled when
 * should_stop said stop, Unavailable for every transport failure; rethrows an exception
 * raised inside a callback (std::bad_alloc, or one thrown by should_stop).
 */
HttpResponse
CurlHttpClient::Get(const HttpRequest &request, const ShouldStop &should_stop) {
	const std::string shown_url = UrlForMessage(request.url);
	if (!IsHttpUrl(request.url)) {
		throw Error(ErrorKind::InvalidInput, "unsupported URL \"" + shown_url + "\"",
		            "Only http:// and https:// URLs can be fetched.");
	}
	if (should_stop && should_stop()) {
		throw Error(ErrorKind::Cancelled, "cancelled before fetching " + shown_url);
	}

	HttpResponse response;
	Transfer transfer;
	transfer.should_stop = &should_stop;
	transfer.response = &response;
	transfer.max_body_bytes = request.max_body_bytes;

	Slist headers;
	for (const auto &header : request.headers) {
		if (header.first.find_first_of("\r\n:") != std::string::npos ||
		    header.second.find_first_of("\r\n") != std::string::npos) {
			/* Names the header but never its value, which may be the API key. */
			throw Error(ErrorKind::InvalidInput, "HTTP header \"" + header.first.substr(0, 64) + "\" is malformed",
			            "Header names and values cannot contain line breaks.");
		}
		/* "Name;" is libcurl's spelling of a header with an empty value ("Name:" removes it). */
		const std::string line = header.first + (header.second.empty() ? ";" : ": " + header.second);
		curl_slist *extended = curl_slist_append(headers.get(), line.c_str());
		if (!extended) {
			throw std::bad_alloc();
		}
		(void)headers.release();
		headers.reset(extended);
	}

	CURL *curl = handle_->easy;
	CURLM *multi = handle_->multi;
	char error_buffer[CURL_ERROR_SIZE] = {0};
	curl_easy_reset(curl);
	/* Declared after `headers`, `transfer` and `error_buffer`, so it runs before they die:
	 * the handle keeps no pointer into this frame between calls. */
	struct ResetOnExit {
		CURL *handle;
		~ResetOnExit() {
			curl_easy_reset(handle);
		}
	} reset_on_exit {curl};
	SetOption(curl, CURLOPT_URL, request.url.c_str());
	SetOption(curl, CURLOPT_NOSIGNAL, 1L);
	SetOption(curl, CURLOPT_HTTPGET, 1L);
	SetOption(curl, CURLOPT_ERRORBUFFER, error_buffer);
	SetOption(curl, CURLOPT_USERAGENT, kUserAgent);
	SetOption(curl, CURLOPT_CONNECTTIMEOUT_MS, std::max(1L, request.connect_timeout_ms));
	SetOption(curl, CURLOPT_TIMEOUT_MS, std::max(1L, request.total_timeout_ms));
	SetOption(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	SetOption(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	SetOption(curl, CURLOPT_FOLLOWLOCATION, request.max_redirects > 0 ? 1L : 0L);
	SetOption(curl, CURLOPT_MAXREDIRS, static_cast<long>(std::max(0, request.max_redirects)));
	SetOption(curl, CURLOPT_ACCEPT_ENCODING, "gzip");
	/* Fails early when Content-Length already says too much; WriteBody enforces the cap
	 * on the decoded bytes in every case. */
	SetOption(curl, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(request.max_body_bytes));
	SetOption(curl, CURLOPT_WRITEFUNCTION, &WriteBody);
	SetOption(curl, CURLOPT_WRITEDATA, static_cast<void *>(&transfer));
	SetOption(curl, CURLOPT_HEADERFUNCTION, &WriteHeader);
	SetOption(curl, CURLOPT_HEADERDATA, static_cast<void *>(&transfer));
	SetOption(curl, CURLOPT_NOPROGRESS, 0L);
	SetOption(curl, CURLOPT_XFERINFOFUNCTION, &PollStop);
	SetOption(curl, CURLOPT_XFERINFODATA, static_cast<void *>(&transfer));
	if (headers) {
		SetOption(curl, CURLOPT_HTTPHEADER, headers.get());
	}

	const CURLcode rc = Perform(multi, curl, should_stop, &transfer);
	const std::string curl_message = error_buffer[0] ? std::string(error_buffer) : curl_easy_strerror(rc);

	if (transfer.failure) {
		std::rethrow_exception(transfer.failure);
	}
	if (transfer.cancelled) {
		throw Error(ErrorKind::Cancelled, "cancelled while fetching " + shown_url);
	}
	switch (rc) {
	case CURLE_OK:
		break;
	case CURLE_WRITE_ERROR:
	case CURLE_FILESIZE_EXCEEDED:
		if (transfer.too_large || rc == CURLE_FILESIZE_EXCEEDED) {
			throw Error(ErrorKind::Unavailable,
			            "response from " + shown_url + " is larger than " + std::to_string(request.max_body_bytes) +
			                " bytes",
			            "The server sent more than is accepted (europeana.max_image_bytes for images).");
		}
		throw Error(ErrorKind::Unavailable, "could not fetch " + shown_url + ": " + curl_message, kReachHint);
	case CURLE_OPERATION_TIMEDOUT:
		throw Error(ErrorKind::Unavailable, "fetching " + shown_url + " timed out: " + curl_message,
		            "europeana.http_timeout_ms and europeana.http_connect_timeout_ms bound each request.");
	case CURLE_TOO_MANY_REDIRECTS:
		throw Error(ErrorKind::Unavailable,
		            "fetching " + shown_url + " took more than " + std::to_string(request.max_redirects) + " redirects",
		            "The server redirects in a loop or too often; at most this many redirects are followed.");
	case CURLE_URL_MALFORMAT:
		throw Error(ErrorKind::InvalidInput, "malformed URL \"" + shown_url + "\": " + curl_message,
		            "Check the URL (europeana.api_url and europeana.thumbnail_url for the API).");
	default:
		throw Error(ErrorKind::Unavailable, "could not fetch " + shown_url + ": " + curl_message, kReachHint);
	}

	long status = 0;
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	response.status = status;
	char *content_type = nullptr;
	if (curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &content_type) == CURLE_OK && content_type) {
		response.content_type = content_type;
	}
	char *effective_url = nullptr;
	if (curl_easy_getinfo(curl, CURLINFO_EFFECTIVE_URL, &effective_url) == CURLE_OK && effective_url) {
		response.effective_url = effective_url;
	}
	return response;
}

} // namespace europeana::core
