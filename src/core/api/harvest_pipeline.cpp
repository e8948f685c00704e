/*
 * harvest_pipeline.cpp — worker threads, bounded queue, cancellation.
 */
#include "core/api/harvest_pipeline.hpp"

#include "core/common/interrupt.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <set>

namespace europeana::core {

std::string
ItemsToJson(const std::vector<SearchItem> &items) {
	nlohmann::json out = nlohmann::json::array();
	std::set<std::string> seen;
	for (const SearchItem &it : items) {
		if (it.id.empty() || !seen.insert(it.id).second) {
			continue;
		}
		nlohmann::json row;
		const auto put = [&row](const char *key, const std::string &value) {
			if (value.empty()) {
				row[key] = nullptr;
			} else {
				row[key] = value;
			}
		};
		put("id", it.id);
		put("title", it.title);
		put("data_provider", it.data_provider);
		put("provider", it.provider);
		put("country", it.country);
		put("rights", it.rights);
		put("type", it.type);
		put("year", it.year);
		put("is_shown_by", it.is_shown_by);
		put("is_shown_at", it.is_shown_at);
		put("preview", it.preview);
		row["item"] = it.json.empty() ? nlohmann::json(nullptr) : nlohmann::json::parse(it.json, nullptr, false);
		out.push_back(std::move(row));
	}
	/* invalid UTF-8 from a provider must not fail the page: replace it */
	return out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

HarvestPipeline::HarvestPipeline(std::vector<HarvestTask> tasks, int concurrency, ClientFactory make_client,
                                 RetryPolicy policy)
    : tasks_(std::move(tasks)), make_client_(std::move(make_client)), policy_(policy) {
	const size_t n = std::min<size_t>(tasks_.size(), static_cast<size_t>(std::max(concurrency, 1)));
	max_queued_ = std::max<size_t>(2 * n, 2);
	threads_.reserve(n);
	for (size_t i = 0; i < n; i++) {
		threads_.emplace_back([this] { Work(); });
	}
}

HarvestPipeline::~HarvestPipeline() {
	Stop();
}

void
HarvestPipeline::Stop() noexcept {
	stop_.store(true);
	space_.notify_all();
	ready_.notify_all();
	for (std::thread &t : threads_) {
		if (t.joinable()) {
			t.join();
		}
	}
	threads_.clear();
}

void
HarvestPipeline::Push(HarvestEvent &&event) {
	std::unique_lock<std::mutex> lock(mutex_);
	/* Backpressure: a consumer that writes slower than we fetch bounds memory. Done and
	 * Failed events are always accepted so that Finished() can become true. */
	if (event.kind == HarvestEvent::Kind::Page) {
		space_.wait(lock, [this] { return stop_.load() || queue_.size() < max_queued_; });
		if (stop_.load()) {
			return;
		}
	}
	queue_.push_back(std::move(event));
	ready_.notify_one();
}

bool
HarvestPipeline::Next(HarvestEvent *out, std::chrono::milliseconds timeout) {
	std::unique_lock<std::mutex> lock(mutex_);
	if (!ready_.wait_for(lock, timeout, [this] { return !queue_.empty(); })) {
		return false;
	}
	*out = std::move(queue_.front());
	queue_.pop_front();
	if (out->kind != HarvestEvent::Kind::Page) {
		finished_tasks_++;
	}
	space_.notify_one();
	return true;
}

bool
HarvestPipeline::Finished() {
	std::lock_guard<std::mutex> lock(mutex_);
	return finished_tasks_ == tasks_.size() && queue_.empty();
}

void
HarvestPipeline::Work() {
	const ShouldStop should_stop = [this] { return stop_.load(std::memory_order_relaxed); };
	for (;;) {
		const size_t index = next_task_.fetch_add(1);
		if (index >= tasks_.size() || stop_.load()) {
			return;
		}
		const HarvestTask &task = tasks_[index];
		try {
			std::unique_ptr<HttpClient> client = make_client_();
			SearchClient search(*client, SystemClock(), policy_);
			CursorPager pager(search, task.query, task.start_cursor, task.max_records);
			SearchPage page;
			while (pager.Next(&page, should_stop)) {
				HarvestEvent event;
				event.task = index;
				event.kind = HarvestEvent::Kind::Page;
				event.page = std::move(page);
				event.cursor_after = pager.Cursor();
				Push(std::move(event));
				if (stop_.load()) {
					return;
				}
			}
			HarvestEvent done;
			done.task = index;
			done.kind = HarvestEvent::Kind::Done;
			done.cursor_after = pager.Cursor();
			Push(std::move(done));
		} catch (const Error &e) {
			if (e.Kind() == ErrorKind::Cancelled && stop_.load()) {
				return;
			}
			HarvestEvent failed;
			failed.task = index;
			failed.kind = HarvestEvent::Kind::Failed;
			failed.error = e.what();
			failed.hint = e.Hint();
			failed.error_kind = e.Kind();
			Push(std::move(failed));
		} catch (const std::exception &e) {
			HarvestEvent failed;
			failed.task = index;
			failed.kind = HarvestEvent::Kind::Failed;
			failed.error = e.what();
			Push(std::move(failed));
		}
	}
}

} // namespace europeana::core
