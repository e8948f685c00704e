/*
 * fetcher.cpp — the libcurl multi loop behind Fetcher::Run.
 *
 * Scheduling: requests wait in per-host queues (keyed by host and port of the URL about to
 * be tried) and are started round-robin across hosts, at most `per_host` per host and
 * `concurrency` in all, so a batch sorted by provider does not leave slots idle behind one
 * slow host.  libcurl enforces the same limits on connections (CURLMOPT_MAX_HOST_CONNECTIONS,
 * CURLMOPT_MAX_TOTAL_CONNECTIONS), which also covers redirects to other hosts.  A request
 * whose URL fails goes back to the front of the queue of its next URL's host.
 *
 * Each transfer owns its easy handle, its body buffer and its error buffer; libcurl's
 * callbacks (write, header, open socket) only touch that Transfer and never throw.  Easy
 * handles are reused across transfers (curl_easy_reset) and the connection and DNS caches
 * live in the multi handle for the duration of one Run.
 */
#include "core/http/fetcher.hpp"

#include "core/common/bytes.hpp"
#include "core/common/error.hpp"
#include "core/common/signals.hpp"
#include "core/common/strings.hpp"
#include "core/decode/sniff.hpp"

#include <curl/curl.h>

#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <utility>

namespace europeana::core {

namespace {

using SteadyClock = std::chrono::steady_clock;

constexpr long kPollIntervalMs = 100;
constexpr uint8_t kPngSignature[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
/* Thumbnail API v2 default icons by media type: IMAGE, SOUND, VIDEO, TEXT, 3D. */
constexpr size_t kPlaceholderIconSizes[] = {kImagePlaceholderBytes, 2484, 1932, 2180, 3012};

struct EasyDeleter {
	void
	operator()(CURL *easy) const noexcept {
		curl_easy_cleanup(easy);
	}
};
using EasyHandle = std::unique_ptr<CURL, EasyDeleter>;

struct MultiDeleter {
	void
	operator()(CURLM *multi) const noexcept {
		curl_multi_cleanup(multi);
	}
};

struct SlistDeleter {
	void
	operator()(curl_slist *list) const noexcept {
		curl_slist_free_all(list);
	}
};
using Slist = std::unique_ptr<curl_slist, SlistDeleter>;

struct UrlDeleter {
	void
	operator()(CURLU *url) const noexcept {
		curl_url_cleanup(url);
	}
};

/* One URL being downloaded; its address is stable while libcurl holds pointers into it. */
struct Transfer {
	size_t request = 0;
	std::string url;
	std::string host_key;
	EasyHandle easy;
	std::string body;
	size_t max_bytes = 0;
	bool overflow = false;
	bool allow_private = false;
	std::string refused; /* why the open-socket callback refused the last address */
	char error_buffer[CURL_ERROR_SIZE] = {0};
	SteadyClock::time_point started;
};

/* WriteBody appends received (already content-decoded) bytes; it aborts the transfer by
 * returning a short count once the body would exceed max_bytes.  Never throws. */
size_t
WriteBody(char *data, size_t size, size_t count, void *user_data) noexcept {
	auto *transfer = static_cast<Transfer *>(user_data);
	const size_t length = size * count;
	if (length > transfer->max_bytes - transfer->body.size()) {
		transfer->overflow = true;
		return 0;
	}
	try {
		if (transfer->body.empty() && transfer->body.capacity() == 0) {
			curl_off_t declared = -1;
			if (curl_easy_getinfo(transfer->easy.get(), CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &declared) == CURLE_OK &&
			    declared > 0 && static_cast<uint64_t>(declared) <= transfer->max_bytes) {
				transfer->body.reserve(static_cast<size_t>(declared));
			}
		}
		transfer->body.append(data, length);
	} catch (...) {
		return 0;
	}
	return length;
}

/* ReceiveHeader drops any body kept from an earlier response of the same transfer when a
 * new status line arrives (libcurl skips the bodies of redirects it follows; this makes
 * sure only the final response's body is kept).  Never throws. */
size_t
ReceiveHeader(char *data, size_t size, size_t count, void *user_data) noexcept {
	auto *transfer = static_cast<Transfer *>(user_data);
	const size_t length = size * count;
	if (length >= 5 && std::memcmp(data, "HTTP/", 5) == 0) {
		transfer->body.clear();
	}
	return length;
}

/*
 * OpenSocket is libcurl's CURLOPT_OPENSOCKETFUNCTION: it runs for every connection attempt
 * of every hop, after name resolution, with the address about to be connected to.  A
 * forbidden address is refused (libcurl then tries the next resolved address, and fails
 * with CURLE_COULDNT_CONNECT when none is left); the reason is kept for the result.
 */
curl_socket_t
OpenSocket(void *user_data, curlsocktype purpose, curl_sockaddr *address) noexcept {
	auto *transfer = static_cast<Transfer *>(user_data);
	if (purpose != CURLSOCKTYPE_IPCXN) {
		return CURL_SOCKET_BAD;
	}
	if (!transfer->allow_private) {
		if (const char *reason = ForbiddenAddressReason(&address->addr)) {
			try {
				transfer->refused = "refused address " + FormatAddress(&address->addr) + " (" + reason + ")";
			} catch (...) {
				transfer->refused = "refused address";
			}
			return CURL_SOCKET_BAD;
		}
	}
	return socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
}

/* Splits a URL into its lower-case "host:port" scheduling key; returns false with a reason
 * for a malformed URL or a scheme other than http and https. */
bool
HostKey(const std::string &url, std::string &key, std::string &error) {
	std::unique_ptr<CURLU, UrlDeleter> handle(curl_url());
	if (!handle) {
		throw std::bad_alloc();
	}
	/* CURLU_NON_SUPPORT_SCHEME: parse any scheme, so that the message can name it */
	if (curl_url_set(handle.get(), CURLUPART_URL, url.c_str(), CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK) {
		error = "invalid URL";
		return false;
	}
	auto part = [&handle](CURLUPart which, unsigned int flags, std::string &out) {
		char *value = nullptr;
		if (curl_url_get(handle.get(), which, &value, flags) != CURLUE_OK || value == nullptr) {
			return false;
		}
		out = value;
		curl_free(value);
		return true;
	};
	std::string scheme;
	std::string host;
	std::string port;
	if (!part(CURLUPART_SCHEME, 0, scheme)) {
		error = "invalid URL";
		return false;
	}
	scheme = AsciiLower(scheme);
	if (scheme != "http" && scheme != "https") {
		error = "unsupported URL scheme " + scheme + " (only http and https are fetched)";
		return false;
	}
	if (!part(CURLUPART_HOST, 0, host) || host.empty() || !part(CURLUPART_PORT, CURLU_DEFAULT_PORT, port)) {
		error = "invalid URL";
		return false;
	}
	key = AsciiLower(host) + ":" + port;
	return true;
}

/* Pending requests per host, served round-robin across hosts. */
class HostQueues {
public:
	void
	Push(const std::string &host, size_t request, bool front) {
		auto [it, inserted] = queues_.try_emplace(host);
		if (inserted || it->second.empty()) {
			ring_.push_back(host);
		}
		if (front) {
			it->second.push_front(request);
		} else {
			it->second.push_back(request);
		}
		size_++;
	}

	/* Takes the next request of the first host in ring order that has fewer than per_host
	 * transfers active; returns false when no host qualifies. */
	bool
	Pop(const std::unordered_map<std::string, int> &active, int per_host, size_t &request, std::string &host) {
		for (size_t tries = ring_.size(); tries > 0; tries--) {
			std::string candidate = std::move(ring_.front());
			ring_.pop_front();
			auto it = active.find(candidate);
			if (it != active.end() && it->second >= per_host) {
				ring_.push_back(std::move(candidate));
				continue;
			}
			auto queue = queues_.find(candidate);
			request = queue->second.front();
			queue->second.pop_front();
			size_--;
			if (queue->second.empty()) {
				queues_.erase(queue);
			} else {
				ring_.push_back(candidate);
			}
			host = std::move(candidate);
			return true;
		}
		return false;
	}

	bool
	Empty() const noexcept {
		return size_ == 0;
	}

private:
	std::map<std::string, std::deque<size_t>> queues_;
	std::deque<std::string> ring_; /* hosts with a non-empty queue, each once */
	size_t size_ = 0;
};

std::string
Milliseconds(long ms) {
	return std::to_string(ms) + " ms";
}

/*
 * CheckBody decides whether a complete 2xx body is a usable image: not empty, not a
 * thumbnail API placeholder icon, recognised by its magic bytes, and not visibly truncated.
 * Returns an empty string and sets `mime` when it is, else the reason.
 */
std::string
CheckBody(const std::string &body, std::string &mime) {
	if (body.empty()) {
		return "empty body";
	}
	if (IsPlaceholderIcon(body)) {
		return "placeholder thumbnail (" + std::to_string(body.size()) + "-byte icon)";
	}
	const ByteView view{reinterpret_cast<const uint8_t *>(body.data()), body.size()};
	ImageHeader header;
	try {
		header = ReadImageHeader(view);
	} catch (const Error &e) {
		std::string reason = e.what();
		static constexpr char kSuffix[] = ", not an image";
		const size_t suffix_length = sizeof(kSuffix) - 1;
		if (reason.size() > suffix_length &&
		    reason.compare(reason.size() - suffix_length, suffix_length, kSuffix) == 0) {
			reason.resize(reason.size() - suffix_length);
		}
		return (SniffFormat(view) == ImageFormat::Unknown ? "not an image: " : "unusable image: ") + reason;
	}
	if (!header.complete) {
		return std::string("truncated image: the ") + FormatName(header.format) + " data ends before its end marker";
	}
	mime = FormatMimeType(header.format);
	return {};
}

/* Owns the multi handle and every transfer in flight; the destructor aborts them all, so
 * leaving Run by any exception (Cancelled, on_result's) releases everything. */
class Session {
public:
	Session(const FetchOptions &options, const std::vector<FetchRequest> &requests,
	        const std::function<void(FetchResult &&)> &on_result)
	    : options_(options), requests_(requests), on_result_(on_result), multi_(curl_multi_init()) {
		if (!multi_) {
			throw Error(ErrorKind::Internal, "curl_multi_init failed");
		}
		curl_multi_setopt(multi_.get(), CURLMOPT_MAX_HOST_CONNECTIONS, static_cast<long>(options_.per_host));
		curl_multi_setopt(multi_.get(), CURLMOPT_MAX_TOTAL_CONNECTIONS, static_cast<long>(options_.concurrency));
		curl_multi_setopt(multi_.get(), CURLMOPT_MAXCONNECTS, static_cast<long>(options_.concurrency));
		curl_slist *headers = curl_slist_append(nullptr, "Accept: image/*, */*;q=0.5");
		if (headers == nullptr) {
			throw std::bad_alloc();
		}
		headers_.reset(headers);
		next_url_.assign(requests_.size(), 0);
	}

	~Session() {
		for (auto &entry : active_) {
			curl_multi_remove_handle(multi_.get(), entry.first);
		}
	}

	Session(const Session &) = delete;
	Session &operator=(const Session &) = delete;

	/* Runs the loop described in the file header until every request has a result. */
	void
	Run(const ShouldStop &should_stop) {
		for (size_t i = 0; i < requests_.size(); i++) {
			Enqueue(i, false);
		}
		for (;;) {
			if (should_stop && should_stop()) {
				throw Error(ErrorKind::Cancelled, "download cancelled");
			}
			Refill();
			if (active_.empty()) {
				break; /* nothing in flight, so nothing pending either (Refill starts whatever it can) */
			}
			int running = 0;
			CURLMcode code;
			{
				/* resolver threads created in here inherit a fully blocked signal mask */
				SignalBlockScope block;
				code = curl_multi_perform(multi_.get(), &running);
			}
			if (code != CURLM_OK) {
				throw Error(ErrorKind::Internal, std::string("curl_multi_perform: ") + curl_multi_strerror(code));
			}
			bool finished_any = false;
			int queued = 0;
			while (CURLMsg *message = curl_multi_info_read(multi_.get(), &queued)) {
				if (message->msg == CURLMSG_DONE) {
					Finish(message->easy_handle, message->data.result);
					finished_any = true;
				}
			}
			if (finished_any) {
				continue; /* start replacements right away */
			}
			code = curl_multi_poll(multi_.get(), nullptr, 0, kPollIntervalMs, nullptr);
			if (code != CURLM_OK) {
				throw Error(ErrorKind::Internal, std::string("curl_multi_poll: ") + curl_multi_strerror(code));
			}
		}
	}

private:
	FetchResult &
	Partial(size_t request) {
		auto [it, inserted] = partial_.try_emplace(request);
		if (inserted) {
			it->second.key = requests_[request].key;
		}
		return it->second;
	}

	/* Emit hands a finished request's result to the caller. */
	void
	Emit(size_t request) {
		FetchResult result = std::move(Partial(request));
		partial_.erase(request);
		auto started = first_start_.find(request);
		if (started != first_start_.end()) {
			result.seconds = std::chrono::duration<double>(SteadyClock::now() - started->second).count();
			first_start_.erase(started);
		}
		on_result_(std::move(result));
	}

	/* Enqueue queues the request's next URL, skipping malformed ones, or emits its failure
	 * when no URL is left. */
	void
	Enqueue(size_t request, bool front) {
		const std::vector<std::string> &urls = requests_[request].urls;
		while (next_url_[request] < urls.size()) {
			const std::string &url = urls[next_url_[request]];
			std::string host;
			std::string error;
			if (HostKey(url, host, error)) {
				pending_.Push(host, request, front);
				return;
			}
			FetchResult &partial = Partial(request);
			partial.attempts++;
			partial.url = url;
			partial.effective_url.clear();
			partial.http_status = 0;
			partial.content_type.clear();
			partial.error = error;
			next_url_[request]++;
		}
		FetchResult &partial = Partial(request);
		if (urls.empty()) {
			partial.error = "no URL to fetch";
		}
		Emit(request);
	}

	void
	Refill() {
		while (active_.size() < static_cast<size_t>(options_.concurrency)) {
			size_t request = 0;
			std::string host;
			if (!pending_.Pop(active_per_host_, options_.per_host, request, host)) {
				return;
			}
			Start(request, std::move(host));
		}
	}

	/* Start configures an easy handle for the request's current URL and adds it to the multi
	 * handle.  Throws Error(Internal) when a security-relevant option cannot be set. */
	void
	Start(size_t request, std::string host) {
		auto transfer = std::make_unique<Transfer>();
		transfer->request = request;
		transfer->url = requests_[request].urls[next_url_[request]];
		transfer->host_key = std::move(host);
		transfer->max_bytes = options_.max_bytes;
		transfer->allow_private = options_.address.allow_private;
		if (!idle_.empty()) {
			transfer->easy = std::move(idle_.back());
			idle_.pop_back();
			curl_easy_reset(transfer->easy.get());
		} else {
			transfer->easy.reset(curl_easy_init());
			if (!transfer->easy) {
				throw Error(ErrorKind::Internal, "curl_easy_init failed");
			}
		}
		Configure(*transfer);
		transfer->started = SteadyClock::now();
		first_start_.try_emplace(request, transfer->started);
		Partial(request).attempts++;

		CURL *easy = transfer->easy.get();
		auto inserted = active_.emplace(easy, std::move(transfer));
		const CURLMcode code = curl_multi_add_handle(multi_.get(), easy);
		if (code != CURLM_OK) {
			idle_.push_back(std::move(inserted.first->second->easy));
			active_.erase(inserted.first);
			throw Error(ErrorKind::Internal, std::string("curl_multi_add_handle: ") + curl_multi_strerror(code));
		}
		active_per_host_[inserted.first->second->host_key]++;
	}

	void
	Configure(Transfer &transfer) {
		CURL *easy = transfer.easy.get();
		auto require = [](CURLcode code, const char *what) {
			if (code != CURLE_OK) {
				throw Error(ErrorKind::Internal,
				            std::string("libcurl refused option ") + what + ": " + curl_easy_strerror(code));
			}
		};
		require(curl_easy_setopt(easy, CURLOPT_URL, transfer.url.c_str()), "URL");
		require(curl_easy_setopt(easy, CURLOPT_PRIVATE, &transfer), "PRIVATE");
		require(curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, transfer.error_buffer), "ERRORBUFFER");
		require(curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L), "NOSIGNAL");
		require(curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https"), "PROTOCOLS_STR");
		require(curl_easy_setopt(easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https"), "REDIR_PROTOCOLS_STR");
		require(curl_easy_setopt(easy, CURLOPT_PROXY, ""), "PROXY");
		require(curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, OpenSocket), "OPENSOCKETFUNCTION");
		require(curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, &transfer), "OPENSOCKETDATA");
		require(curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 1L), "FOLLOWLOCATION");
		require(curl_easy_setopt(easy, CURLOPT_MAXREDIRS, static_cast<long>(options_.max_redirects)), "MAXREDIRS");
		require(curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, options_.connect_timeout_ms), "CONNECTTIMEOUT_MS");
		require(curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, options_.total_timeout_ms), "TIMEOUT_MS");
		require(curl_easy_setopt(easy, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(options_.max_bytes)),
		        "MAXFILESIZE_LARGE");
		require(curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, WriteBody), "WRITEFUNCTION");
		require(curl_easy_setopt(easy, CURLOPT_WRITEDATA, &transfer), "WRITEDATA");
		require(curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, ReceiveHeader), "HEADERFUNCTION");
		require(curl_easy_setopt(easy, CURLOPT_HEADERDATA, &transfer), "HEADERDATA");
		/* error statuses end the transfer at the headers: no error page is downloaded */
		require(curl_easy_setopt(easy, CURLOPT_FAILONERROR, 1L), "FAILONERROR");
		require(curl_easy_setopt(easy, CURLOPT_ACCEPT_ENCODING, ""), "ACCEPT_ENCODING");
		require(curl_easy_setopt(easy, CURLOPT_USERAGENT, options_.user_agent.c_str()), "USERAGENT");
		require(curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers_.get()), "HTTPHEADER");
		require(curl_easy_setopt(easy, CURLOPT_NOPROGRESS, 1L), "NOPROGRESS");
#if LIBCURL_VERSION_NUM >= 0x075700
		/* do not wait for a still-running resolver thread when a transfer is aborted */
		curl_easy_setopt(easy, CURLOPT_QUICK_EXIT, 1L);
#endif
	}

	/* Finish evaluates a completed transfer: emits the result on success, otherwise records
	 * the reason and moves the request on to its next URL. */
	void
	Finish(CURL *easy, CURLcode code) {
		auto it = active_.find(easy);
		if (it == active_.end()) {
			return;
		}
		curl_multi_remove_handle(multi_.get(), easy);
		std::unique_ptr<Transfer> transfer = std::move(it->second);
		active_.erase(it);
		auto host = active_per_host_.find(transfer->host_key);
		if (host != active_per_host_.end() && --host->second <= 0) {
			active_per_host_.erase(host);
		}

		const size_t request = transfer->request;
		FetchResult &partial = Partial(request);
		partial.url = transfer->url;
		partial.http_status = 0;
		curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &partial.http_status);
		char *effective_url = nullptr;
		curl_easy_getinfo(easy, CURLINFO_EFFECTIVE_URL, &effective_url);
		partial.effective_url = effective_url != nullptr ? effective_url : "";
		char *content_type = nullptr;
		curl_easy_getinfo(easy, CURLINFO_CONTENT_TYPE, &content_type);
		partial.content_type = content_type != nullptr ? content_type : "";

		std::string mime;
		std::string error = TransferError(*transfer, code, partial.http_status);
		if (error.empty()) {
			error = CheckBody(transfer->body, mime);
		}
		idle_.push_back(std::move(transfer->easy));

		if (error.empty()) {
			partial.ok = true;
			partial.body = std::move(transfer->body);
			partial.mime = std::move(mime);
			partial.error.clear();
			Emit(request);
			return;
		}
		partial.error = std::move(error);
		next_url_[request]++;
		Enqueue(request, true);
	}

	/* The reason a transfer failed at the transport or HTTP level, or empty. */
	std::string
	TransferError(const Transfer &transfer, CURLcode code, long status) const {
		if (code == CURLE_OK) {
			if (status < 200 || status > 299) {
				return "HTTP " + std::to_string(status);
			}
			return {};
		}
		if (transfer.overflow || code == CURLE_FILESIZE_EXCEEDED) {
			return "exceeds " + std::to_string(options_.max_bytes) + " bytes";
		}
		if (!transfer.refused.empty() && code == CURLE_COULDNT_CONNECT) {
			return transfer.refused;
		}
		switch (code) {
		case CURLE_HTTP_RETURNED_ERROR:
			return "HTTP " + std::to_string(status);
		case CURLE_TOO_MANY_REDIRECTS:
			return "too many redirects (more than " + std::to_string(options_.max_redirects) + ")";
		case CURLE_OPERATION_TIMEDOUT: {
			curl_off_t connect_us = 0;
			curl_easy_getinfo(transfer.easy.get(), CURLINFO_CONNECT_TIME_T, &connect_us);
			const auto elapsed =
			    std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - transfer.started);
			if (connect_us == 0 && elapsed.count() < options_.total_timeout_ms) {
				return "connect timed out after " + Milliseconds(options_.connect_timeout_ms);
			}
			return "timed out after " + Milliseconds(options_.total_timeout_ms);
		}
		case CURLE_PARTIAL_FILE:
			return std::string("truncated body: ") +
			       (transfer.error_buffer[0] != '\0' ? transfer.error_buffer : "connection closed early");
		default:
			break;
		}
		std::string detail = transfer.error_buffer[0] != '\0' ? transfer.error_buffer : curl_easy_strerror(code);
		if (!transfer.refused.empty()) {
			detail += " (" + transfer.refused + ")";
		}
		return detail;
	}

	const FetchOptions &options_;
	const std::vector<FetchRequest> &requests_;
	const std::function<void(FetchResult &&)> &on_result_;
	std::unique_ptr<CURLM, MultiDeleter> multi_; /* declared before the transfers: destroyed after them */
	Slist headers_;
	std::vector<size_t> next_url_; /* index into urls of the URL to try next, per request */
	std::unordered_map<size_t, FetchResult> partial_;
	std::unordered_map<size_t, SteadyClock::time_point> first_start_;
	HostQueues pending_;
	std::unordered_map<CURL *, std::unique_ptr<Transfer>> active_;
	std::unordered_map<std::string, int> active_per_host_;
	std::vector<EasyHandle> idle_;
};

} // namespace

bool
IsPlaceholderIcon(const std::string &body) noexcept {
	if (body.size() < sizeof(kPngSignature) || std::memcmp(body.data(), kPngSignature, sizeof(kPngSignature)) != 0) {
		return false;
	}
	return std::find(std::begin(kPlaceholderIconSizes), std::end(kPlaceholderIconSizes), body.size()) !=
	       std::end(kPlaceholderIconSizes);
}

void
InitFetcherCurlOnce() {
	static std::once_flag once;
	static CURLcode code = CURLE_OK;
	std::call_once(once, [] {
		code = curl_global_init(CURL_GLOBAL_DEFAULT);
	});
	if (code != CURLE_OK) {
		throw Error(ErrorKind::Internal, std::string("curl_global_init failed: ") + curl_easy_strerror(code));
	}
}

Fetcher::Fetcher(FetchOptions options) : options_(std::move(options)) {
	if (options_.concurrency < 1 || options_.per_host < 1) {
		throw Error(ErrorKind::InvalidInput, "fetch concurrency and per-host limit must be at least 1");
	}
	if (options_.connect_timeout_ms < 1 || options_.total_timeout_ms < 1) {
		throw Error(ErrorKind::InvalidInput, "fetch timeouts must be at least 1 ms");
	}
	if (options_.max_bytes < 1 || options_.max_redirects < 0) {
		throw Error(ErrorKind::InvalidInput, "fetch size limit must be positive and the redirect limit not negative");
	}
	InitFetcherCurlOnce();
}

void
Fetcher::Run(const std::vector<FetchRequest> &requests, const std::function<void(FetchResult &&)> &on_result,
             const ShouldStop &should_stop) {
	Session session(options_, requests, on_result);
	session.Run(should_stop);
}

} // namespace europeana::core
