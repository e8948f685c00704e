/*
 * harvest_pipeline.hpp — fetch several concepts' result pages concurrently.
 *
 * One thread per concept (up to `concurrency`) walks that concept's cursor chain with its
 * own HTTP connection; pages are handed to the consumer through a bounded queue, so page
 * N+1 is on the wire while the consumer writes page N (pipelining), and concepts proceed
 * in parallel.  Threads never call PostgreSQL: the consumer (the backend's main thread)
 * takes events with Next() and does all database work.  Stop() (also run by the
 * destructor) makes every thread give up within about a second and joins them.
 */
#pragma once

#include "core/api/retry_policy.hpp"
#include "core/api/search_client.hpp"
#include "core/common/error.hpp"
#include "core/common/no_postgres.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace europeana::core {

struct HarvestTask {
	SearchQuery query;
	std::string start_cursor = "*";
	size_t max_records = SIZE_MAX;
};

struct HarvestEvent {
	enum class Kind { Page, Done, Failed };
	size_t task = 0;
	Kind kind = Kind::Page;
	SearchPage page;          /* Page */
	std::string cursor_after; /* Page: where a resumed harvest continues */
	std::string error;        /* Failed */
	std::string hint;
	ErrorKind error_kind = ErrorKind::Internal;
};

/* ItemsToJson renders a page's items as a JSON array of objects with the columns of
 * europeana.records (id, title, …, preview) and `item`, the scrubbed API JSON, for one
 * set-based INSERT.  Items with an id already seen in the same array are dropped. */
std::string ItemsToJson(const std::vector<SearchItem> &items);

class HarvestPipeline {
public:
	using ClientFactory = std::function<std::unique_ptr<HttpClient>()>;

	HarvestPipeline(std::vector<HarvestTask> tasks, int concurrency, ClientFactory make_client, RetryPolicy policy);
	~HarvestPipeline();
	HarvestPipeline(const HarvestPipeline &) = delete;
	HarvestPipeline &operator=(const HarvestPipeline &) = delete;

	/* Next waits up to `timeout` for an event; false when none arrived in time. */
	bool Next(HarvestEvent *out, std::chrono::milliseconds timeout);
	/* Finished is true once every task reported Done or Failed and the queue is empty. */
	bool Finished();
	/* Stop asks every thread to give up (in-flight requests are aborted) and joins them. */
	void Stop() noexcept;

private:
	void Work();
	void Push(HarvestEvent &&event);

	std::vector<HarvestTask> tasks_;
	ClientFactory make_client_;
	RetryPolicy policy_;
	std::atomic<bool> stop_ {false};
	std::atomic<size_t> next_task_ {0};
	std::mutex mutex_;
	std::condition_variable ready_;
	std::condition_variable space_;
	std::deque<HarvestEvent> queue_;
	size_t finished_tasks_ = 0;
	size_t max_queued_;
	std::vector<std::thread> threads_;
};

} // namespace europeana::core
