/*
 * interrupt.cpp — the real Clock.
 */
#include "core/common/interrupt.hpp"

#include "core/common/error.hpp"

#include <algorithm>
#include <thread>

namespace europeana::core {

namespace {

class RealClock final : public Clock {
public:
	std::chrono::steady_clock::time_point
	Now() override {
		return std::chrono::steady_clock::now();
	}

	void
	SleepFor(std::chrono::milliseconds d, const ShouldStop &should_stop) override {
		const auto until = Now() + d;
		for (;;) {
			if (should_stop && should_stop()) {
				throw Error(ErrorKind::Cancelled, "cancelled while waiting");
			}
			const auto now = Now();
			if (now >= until) {
				return;
			}
			std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(until - now,
			                                                                          std::chrono::milliseconds(50)));
		}
	}
};

} // namespace

Clock &
SystemClock() {
	static RealClock *clock = new RealClock();
	return *clock;
}

} // namespace europeana::core
