/*
 * retry_policy.cpp — exponential backoff with full jitter.
 */
#include "core/api/retry_policy.hpp"

#include <algorithm>

namespace europeana::core {

std::chrono::milliseconds
BackoffCeiling(const RetryPolicy &policy, int retry) {
	const int64_t max_ms = std::max<int64_t>(0, policy.max_delay.count());
	int64_t ceiling = std::max<int64_t>(0, policy.base_delay.count());
	/* Double retry-1 times, saturating at the cap so that nothing overflows. */
	for (int i = 1; i < retry && ceiling > 0 && ceiling < max_ms; i++) {
		ceiling = ceiling > max_ms / 2 ? max_ms : ceiling * 2;
	}
	return std::chrono::milliseconds(std::min(ceiling, max_ms));
}

std::chrono::milliseconds
RetryDelay(const RetryPolicy &policy, int retry, std::mt19937_64 &rng) {
	const uint64_t ceiling = static_cast<uint64_t>(BackoffCeiling(policy, retry).count());
	/* A plain modulo instead of std::uniform_int_distribution: its output is the same on every
	 * standard library, and the bias over a range of at most a few hours in ms is negligible. */
	return std::chrono::milliseconds(static_cast<int64_t>(rng() % (ceiling + 1)));
}

uint64_t
EffectiveSeed(const RetryPolicy &policy) {
	if (policy.seed != 0) {
		return policy.seed;
	}
	std::random_device device;
	return (uint64_t {device()} << 32) ^ device();
}

} // namespace europeana::core
