/*
 * async_classifier.cpp — one classification thread per caller (see async_classifier.hpp).
 */
#include "core/classify/async_classifier.hpp"

#include "core/common/error.hpp"
#include "core/common/signals.hpp"

namespace europeana::core {

AsyncClassifier::~AsyncClassifier() {
	Abandon();
	{
		std::lock_guard<std::mutex> lock(mu_);
		shutdown_ = true;
	}
	cv_.notify_all();
	if (thread_.joinable()) {
		thread_.join();
	}
}

void
AsyncClassifier::Start(std::vector<BatchItem> items, const std::string &model_name, const ClassifierSettings &settings,
                       int decode_threads) {
	if (!thread_.joinable()) { /* first, so that a thread that cannot start leaves nothing pending */
		SignalBlockScope no_signals; /* the thread, and every pool it starts, inherits this mask */
		thread_ = std::thread([this] { Loop(); });
	}
	{
		std::lock_guard<std::mutex> lock(mu_);
		if (pending_) {
			throw Error(ErrorKind::Internal, "a classification batch is already running");
		}
		items_ = std::move(items);
		model_ = model_name;
		settings_ = settings;
		threads_ = decode_threads;
		result_.clear();
		error_ = nullptr;
		cancel_.store(false);
		done_ = false;
		has_job_ = true;
		pending_ = true;
	}
	cv_.notify_all();
}

bool
AsyncClassifier::Pending() const noexcept {
	std::lock_guard<std::mutex> lock(mu_);
	return pending_;
}

bool
AsyncClassifier::WaitFor(int ms) {
	std::unique_lock<std::mutex> lock(mu_);
	return cv_.wait_for(lock, std::chrono::milliseconds(ms), [&] { return !pending_ || done_; });
}

std::vector<BatchOutcome>
AsyncClassifier::Finish() {
	std::unique_lock<std::mutex> lock(mu_);
	if (!pending_) {
		throw Error(ErrorKind::Internal, "no classification batch is running");
	}
	cv_.wait(lock, [&] { return done_; });
	pending_ = false;
	items_.clear();
	if (error_) {
		std::exception_ptr e = error_;
		error_ = nullptr;
		std::rethrow_exception(e);
	}
	return std::move(result_);
}

void
AsyncClassifier::Abandon() noexcept {
	while (!AbandonFor(60000)) {
	}
}

bool
AsyncClassifier::AbandonFor(int ms) noexcept {
	std::unique_lock<std::mutex> lock(mu_);
	if (!pending_) {
		return true;
	}
	cancel_.store(true);
	if (!cv_.wait_for(lock, std::chrono::milliseconds(ms), [&] { return done_; })) {
		return false;
	}
	pending_ = false;
	items_.clear();
	result_.clear();
	error_ = nullptr;
	return true;
}

void
AsyncClassifier::Loop() {
	for (;;) {
		std::unique_lock<std::mutex> lock(mu_);
		cv_.wait(lock, [&] { return has_job_ || shutdown_; });
		if (shutdown_) {
			return;
		}
		has_job_ = false;
		lock.unlock();

		std::vector<BatchOutcome> out;
		std::exception_ptr error;
		try {
			out = ClassifyBatchOrEach(items_, model_, settings_, threads_, [this] { return cancel_.load(); });
		} catch (...) {
			error = std::current_exception();
		}

		lock.lock();
		result_ = std::move(out);
		error_ = error;
		done_ = true;
		lock.unlock();
		cv_.notify_all();
	}
}

} // namespace europeana::core
