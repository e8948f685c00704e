// InstallCrashTrace: a fault on any thread, even one inside a SignalBlockScope (as the
// worker's classifying thread and decode pools are), writes the stack to stderr and the
// process still dies of the original signal.
#include "core/common/crash_trace.hpp"
#include "core/common/signals.hpp"

#include <csignal>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <thread>
#include <ucontext.h>
#include <unistd.h>

namespace {

#if defined(__x86_64__)
constexpr const char *kMainThreadTrace = "test worker: fatal signal Segmentation fault at address 0x0, stack of the "
                                         "crashing thread:\n.*0x.*faulting instruction:\n.*0x.*test worker: end of the crash trace";
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

#if defined(__x86_64__)
ucontext_t fault_context, main_context;

/* A fault on a stack whose top lies just below an inaccessible page: the stack scan runs
 * into that page and must stop there, not fault again and lose the end of the trace. */
TEST(CrashTraceDeathTest, StackScanStopsAtTheEndOfTheStack) {
	GTEST_FLAG_SET(death_test_style, "threadsafe");
	EXPECT_EXIT(
	    {
		    europeana::core::InstallCrashTrace("test worker");
		    const long page = sysconf(_SC_PAGESIZE);
		    auto *area = static_cast<char *>(
		        mmap(nullptr, 3 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
		    if (area == MAP_FAILED || mprotect(area + 2 * page, page, PROT_NONE) != 0) {
			    _exit(3);
		    }
		    getcontext(&fault_context);
		    fault_context.uc_stack.ss_sp = area;
		    fault_context.uc_stack.ss_size = 2 * page; /* its top: the PROT_NONE page */
		    fault_context.uc_link = &main_context;
		    makecontext(&fault_context, Fault, 0);
		    swapcontext(&main_context, &fault_context);
	    },
	    testing::KilledBySignal(SIGSEGV),
	    "faulting instruction:\n.*\\(the stack ends here\\)\ntest worker: end of the crash trace");
}
#endif

} // namespace
