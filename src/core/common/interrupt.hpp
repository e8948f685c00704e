/*
 * interrupt.hpp — how long-running core work learns that it must stop.
 *
 * The glue passes a ShouldStop that reads PostgreSQL's pending-interrupt flags (read
 * only, signal safe); core loops poll it between units of work (a page, a read, a
 * backoff slice) and throw europeana::Error(ErrorKind::Cancelled).  The glue then calls
 * CHECK_FOR_INTERRUPTS() to raise PostgreSQL's own cancel or terminate error.  A
 * ShouldStop never calls PostgreSQL and never longjmps.
 */
#pragma once

#include "core/common/no_postgres.hpp"

#include <chrono>
#include <functional>

namespace europeana::core {

using ShouldStop = std::function<bool()>;

/* Time source and sleeping, behind an interface so retry/backoff policy is unit-tested
 * without waiting. */
class Clock {
public:
	virtual ~Clock() = default;
	virtual std::chrono::steady_clock::time_point Now() = 0;
	/* Sleeps for `d`, waking at least every 50 ms to poll `should_stop`; throws
	 * Error(Cancelled) when it says stop. */
	virtual void SleepFor(std::chrono::milliseconds d, const ShouldStop &should_stop) = 0;
};

/* The real clock (steady_clock + nanosleep slices). */
Clock &SystemClock();

} // namespace europeana::core
