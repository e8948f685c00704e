// InstallCrashTrace: a fault on any thread, even one inside a SignalBlockScope (as the
// worker's classifying thread and decode pools are), writes the stack to stderr and the
// process still dies of the original signal.
#include "core/common/crash_trace.hpp"
#include "core/common/signals.hpp"

#include <csignal>
#include <gtest/gtest.h>
#include <thread>

namespace {

#if defined(__x86_64__)
constexpr const char *kMainThreadTrace = "test worker: fatal signal Segmentation fault at address 0x0, stack of the "
                                         "crashing thread:\n.*0x.*faulting instruction:\n.*0x";
#else
constexpr const char *kMainThreadTrace = "test worker: fatal signal Segmentation fault at address 0x0, stack of the "
                                         "crashing thread:\n.*0x";
#endif

void
Fault() {
	volatile int *nowhere = nullptr;
	*nowhere = 1; // NOLINT: the fault under test
}

TEST(CrashTraceDeathTest, FaultOnMainThreadLeavesStackAndSignal) {
	GTEST_FLAG_SET(death_test_style, "threadsafe");
	EXPECT_EXIT(
	    {
		    europeana::core::InstallCrashTrace("test worker");
		    Fault();
	    },
	    testing::KilledBySignal(SIGSEGV), kMainThreadTrace);
}

TEST(CrashTraceDeathTest, FaultOnThreadWithSignalsBlocked) {
	GTEST_FLAG_SET(death_test_style, "threadsafe");
	EXPECT_EXIT(
	    {
		    europeana::core::InstallCrashTrace("test worker");
		    europeana::core::SignalBlockScope no_signals;
		    std::thread t([] {
			    europeana::core::SignalBlockScope also_none;
			    Fault();
		    });
		    t.join();
	    },
	    testing::KilledBySignal(SIGSEGV), "test worker: fatal signal Segmentation fault at address 0x0, stack of the crashing thread:");
}

} // namespace
