/*
 * torchscript_oom.cpp — a worker's forward pass outside PostgreSQL, on a nearly full GPU
 * (bench/gpu/faults.sh builds and runs it against the machine's LibTorch).
 *
 *   torchscript_oom MODEL.pt BATCH FREE_GB RETHROW
 *
 * Loads MODEL.pt on cuda:0, freezes and optimises it as the extension does, runs one row,
 * then holds all but FREE_GB GB of the device and runs BATCH rows on a thread of its own (as
 * a worker's classifying thread does).  RETHROW is the TorchScript interpreter's
 * torch_jit_enable_rethrow_caught_exception: 1 lets an op's exception out as it is (the
 * extension's setting), 0 is LibTorch's default (the interpreter throws a std::runtime_error
 * with the script's traceback instead).  Prints what the forward pass threw.
 */
#include <c10/cuda/CUDACachingAllocator.h>
#include <cuda_runtime_api.h>
#include <torch/csrc/jit/runtime/interpreter.h>
#include <torch/script.h>

#include <cstdio>
#include <string>
#include <thread>
#include <typeinfo>

int
main(int argc, char **argv) {
	if (argc != 5) {
		std::fprintf(stderr, "usage: %s MODEL.pt BATCH FREE_GB RETHROW\n", argv[0]);
		return 2;
	}
	const int64_t batch = std::stoll(argv[2]);
	const double free_gb = std::stod(argv[3]);
	FLAGS_torch_jit_enable_rethrow_caught_exception = std::string(argv[4]) != "0";
	torch::jit::Module m = torch::jit::load(argv[1], torch::Device(torch::kCUDA, 0));
	m.eval();
	{
		torch::jit::Module frozen = torch::jit::freeze(m);
		m = torch::jit::optimize_for_inference(frozen);
	}
	c10::InferenceMode guard;
	const at::Tensor x = torch::randn({batch, 3, 224, 224}, torch::Device(torch::kCUDA, 0));
	m.forward({x.narrow(0, 0, 1)});
	m.forward({x.narrow(0, 0, 1)});
	cudaDeviceSynchronize();
	c10::cuda::CUDACachingAllocator::emptyCache();
	size_t free_bytes = 0, total_bytes = 0;
	cudaMemGetInfo(&free_bytes, &total_bytes);
	const size_t keep = static_cast<size_t>(free_gb * (1 << 30));
	void *hog = nullptr;
	if (free_bytes > keep && cudaMalloc(&hog, free_bytes - keep) != cudaSuccess) {
		std::printf("could not hold the device\n");
		return 1;
	}
	cudaMemGetInfo(&free_bytes, &total_bytes);
	std::printf("rethrow=%s: %.1f GB of %.1f GB free, forward of %lld rows: ", argv[4], free_bytes / 1073741824.0,
	            total_bytes / 1073741824.0, static_cast<long long>(batch));
	std::fflush(stdout);
	std::thread t([&] {
		c10::InferenceMode on_this_thread; /* a per-thread mode, as in the worker's classifying thread */
		try {
			m.forward({x});
			cudaDeviceSynchronize();
			std::printf("no error\n");
		} catch (const c10::OutOfMemoryError &e) {
			std::printf("c10::OutOfMemoryError (%.120s)\n", e.what_without_backtrace());
		} catch (const c10::Error &e) {
			std::printf("c10::Error (%.120s)\n", e.what_without_backtrace());
		} catch (const std::exception &e) {
			const std::string what = e.what();
			const size_t last = what.find_last_not_of('\n');
			const size_t line = what.rfind('\n', last);
			std::printf("%s (%.160s)\n", typeid(e).name(), what.substr(line == std::string::npos ? 0 : line + 1).c_str());
		}
	});
	t.join();
	cudaFree(hog);
	return 0;
}
