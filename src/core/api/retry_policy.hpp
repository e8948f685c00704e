/*
 * retry_policy.hpp — how often and how long to retry a failed Europeana API call.
 *
 * Delays use exponential backoff with "full jitter": the n-th retry waits a uniformly
 * random time in [0, min(max_delay, base_delay * 2^(n-1))].  Spreading retries out like
 * this is what the API's fair-use policy asks for, and keeps several harvesters that
 * failed together from retrying together.  The random source is seedable so that tests
 * (and a reproduced incident) see the same delays every run.
 */
#pragma once

#include "core/common/no_postgres.hpp"

#include <chrono>
#include <cstdint>
#include <random>

namespace europeana::core {

struct RetryPolicy {
	int max_attempts = 6; /* attempts in total, the first included; values below 1 mean 1 */
	std::chrono::milliseconds base_delay {500};
	std::chrono::milliseconds max_delay {30000}; /* also caps a server-requested rate-limit wait */
	uint64_t seed = 0;                           /* 0 = seed from std::random_device */
};

/* BackoffCeiling is min(max_delay, base_delay * 2^(retry-1)) for retry >= 1, computed
 * without overflow; never negative. */
std::chrono::milliseconds BackoffCeiling(const RetryPolicy &policy, int retry);

/* RetryDelay draws the wait before the `retry`-th retry (1-based) uniformly from
 * [0, BackoffCeiling(policy, retry)] using `rng`. */
std::chrono::milliseconds RetryDelay(const RetryPolicy &policy, int retry, std::mt19937_64 &rng);

/* EffectiveSeed is policy.seed, or a fresh random seed when policy.seed is 0. */
uint64_t EffectiveSeed(const RetryPolicy &policy);

} // namespace europeana::core
