/*
 * server.hpp — the fake Europeana HTTP server: Search, Record and Thumbnail APIs, stand-in provider media hosts, and
 * the /__fake/ control endpoints, on top of cpp-httplib.  Binds 127.0.0.1 only.
 *
 * Threading: httplib runs each connection on a worker of a fixed thread pool.  The dataset is immutable; the fault
 * configuration, counters and rate-limit window sit behind mutex_; the access log behind log_mutex_.  Deliberately
 * slow answers sleep through SleepInterruptible, so Stop() is prompt even while a test's client is stalled.
 */
#pragma once

#include "dataset.hpp"
#include "faults.hpp"
#include "items.hpp"

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

namespace europeana::fake {

struct ServerOptions {
	std::set<std::string> api_keys;      /* valid keys ("api2demo" included unless disabled) */
	std::set<std::string> disabled_keys; /* answered with 401_key_disabled */
	std::string access_log;              /* empty: no access log */
	std::string media_base;              /* empty: http://127.0.0.1:PORT/media */
	std::string api_base;                /* empty: http://127.0.0.1:PORT */
	size_t threads = 64;
	FaultConfig faults;
};

class Server {
public:
	Server(const Dataset &dataset, ServerOptions options);
	~Server();
	Server(const Server &) = delete;
	Server &operator=(const Server &) = delete;

	/* Bind listens on 127.0.0.1:port (0 picks a free port) and returns the port, or -1. */
	int Bind(int port);
	/* Run serves until Stop(); returns false if the listener failed. */
	bool Run();
	/* Stop wakes every sleeping handler and stops the listener; safe from any thread. */
	void Stop();

	/* Expectations lists, per record matching the concept (all records when empty) and reusability filter, what a
	 * client should observe: labels, edmIsShownBy presence, media URL and fault, thumbnail, photo digest. */
	nlohmann::json Expectations(const std::string &concept_uri, const std::string &reusability) const;

	/* SetUrls fixes the generated URLs (Bind does it from the port; --dump-expectations calls it directly). */
	void SetUrls(int port);

private:
	void Register();
	void Log(const httplib::Request &req, const httplib::Response &res);
	void Count(const std::string &endpoint);
	void CountFault(const std::string &area, const std::string &kind);
	FaultConfig Config() const;

	/* api.cpp */
	void HandleSearch(const httplib::Request &req, httplib::Response &res);
	void HandleRecord(const httplib::Request &req, httplib::Response &res);
	bool Authenticate(const httplib::Request &req, httplib::Response &res, std::string &key);
	bool ApplyApiFault(const std::string &kind, const httplib::Request &req, httplib::Response &res,
	                   const std::string &wskey);
	void AddRateLimitHeaders(httplib::Response &res, bool &limited);

	/* media.cpp */
	void HandleMedia(const httplib::Request &req, httplib::Response &res);
	void HandleRedirect(const httplib::Request &req, httplib::Response &res);
	void HandleFile(const httplib::Request &req, httplib::Response &res);
	void HandleThumbnailV2(const httplib::Request &req, httplib::Response &res);
	void HandleThumbnailV3(const httplib::Request &req, httplib::Response &res);
	std::string MediaKindFor(const Record &record, const FaultConfig &config) const;
	void ServeImage(const Record &record, httplib::Response &res, const char *content_type);

	/* server.cpp: control endpoints */
	void HandleFaults(const httplib::Request &req, httplib::Response &res);
	void HandleStats(const httplib::Request &req, httplib::Response &res);
	void HandleReset(const httplib::Request &req, httplib::Response &res);
	void HandleExpected(const httplib::Request &req, httplib::Response &res);

	const Dataset &dataset_;
	ServerOptions options_;
	Urls urls_;
	int port_ = 0;
	httplib::Server http_;
	std::unordered_map<std::string, const Record *> thumbnail_by_md5_;

	mutable std::mutex mutex_;
	FaultConfig config_;
	std::map<std::string, uint64_t> request_counts_;
	std::map<std::string, uint64_t> status_counts_;
	std::map<std::string, std::map<std::string, uint64_t>> fault_counts_;
	uint64_t random_sort_counter_ = 0;
	std::chrono::steady_clock::time_point window_start_;
	int64_t window_count_ = 0;
	bool window_started_ = false;

	std::mutex log_mutex_;
	std::FILE *log_ = nullptr;
};

/* Shorthand used by the handlers: JSON bodies with the real API's Content-Type. */
void SetJson(httplib::Response &res, int status, const nlohmann::ordered_json &body);

/* SetTruncatedBody announces the whole body's length, sends the first half, then closes the connection. */
void SetTruncatedBody(httplib::Response &res, std::string body, const std::string &content_type);

/* CommonsError renders the api-commons error shape the Thumbnail API uses (success, status, error, message, …). */
nlohmann::ordered_json CommonsError(int status, const std::string &error, const std::string &message,
                                    const std::string &path);

/* AbortConnection makes the connection of `req` end without a response (RST); used by the "reset" fault. */
void AbortConnection(const httplib::Request &req);

/* SetFaultNote records, for the access log line of the current request, which fault was served. */
void SetFaultNote(const std::string &note);

} // namespace europeana::fake
