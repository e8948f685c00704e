/*
 * async_classifier.hpp — classify batches on a thread of their own (public core API).
 *
 * A PostgreSQL worker must make every database call on its main thread.  With an
 * AsyncClassifier it hands a batch (images already copied out of the database) to one
 * long-lived thread, which decodes it on its pool and runs the forward pass, while the
 * main thread commits the previous batch's results and claims and reads the next one.
 * One job at a time; the thread is created, with every signal blocked, by the first
 * Start.  Plain C++: no LibTorch, OpenCV or PostgreSQL in this header.
 */
#pragma once

#include "core/classify/classifier.hpp"
#include "core/common/no_postgres.hpp"

#include <atomic>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace europeana::core {

class AsyncClassifier {
public:
	AsyncClassifier() = default;
	AsyncClassifier(const AsyncClassifier &) = delete;
	AsyncClassifier &operator=(const AsyncClassifier &) = delete;
	/* Abandons a running job and joins the thread. */
	~AsyncClassifier();

	/* Starts classifying `items` (ClassifyBatchOrEach) with `decode_threads` threads.  The
	 * items' bytes must stay valid until Finish or Abandon returns.  No job may be pending. */
	void Start(std::vector<BatchItem> items, const std::string &model_name, const ClassifierSettings &settings,
	           int decode_threads);

	/* A job was started and has not been collected by Finish or Abandon. */
	bool Pending() const noexcept;

	/* Waits up to `ms` milliseconds; true when the job is done (or none is pending). */
	bool WaitFor(int ms);

	/* Waits for the job and returns its outcomes, or throws what it threw (Error). */
	std::vector<BatchOutcome> Finish();

	/* Asks the job to stop at its next item and waits until it has; discards its result. */
	void Abandon() noexcept;

	/* Abandon, waiting at most `ms` milliseconds: false when the job has not stopped (a
	 * device call that does not return); it is still pending then, and its items' bytes
	 * must stay valid. */
	bool AbandonFor(int ms) noexcept;

private:
	void Loop();

	mutable std::mutex mu_;
	std::condition_variable cv_;
	std::thread thread_;
	bool shutdown_ = false;
	bool has_job_ = false;  /* started, not yet picked up */
	bool pending_ = false;  /* started, not yet collected */
	bool done_ = false;
	std::atomic<bool> cancel_ {false};
	std::vector<BatchItem> items_;
	std::string model_;
	ClassifierSettings settings_;
	int threads_ = 1;
	std::vector<BatchOutcome> result_;
	std::exception_ptr error_;
};

} // namespace europeana::core
