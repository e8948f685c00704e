/*
 * classifier.cpp — per-process model cache and single-image inference (LibTorch).
 *
 * Threading: LibTorch is configured once per process (one inter-op thread, the
 * requested intra-op threads, OpenCV sequential) from the first call, never at library
 * load, so nothing parallel ever starts in the postmaster.  Every entry point runs
 * inside SignalBlockScope so any pool thread created here has every signal blocked.
 */
#include "core/classify/classifier.hpp"

#include "core/common/error.hpp"
#include "core/common/sha256.hpp"
#include "core/common/signals.hpp"
#include "core/decode/image.hpp"
#ifdef EUROPEANA_WITH_NVJPEG
#include "core/classify/gpu_jpeg.hpp"
#endif

#include <ATen/Parallel.h>
#include <c10/core/DeviceGuard.h>
#include <opencv2/core/utility.hpp>
#include <torch/csrc/jit/runtime/interpreter.h>
#include <torch/cuda.h>
#include <torch/script.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <sys/stat.h>

namespace europeana::core {

namespace {

struct FileIdentity {
	dev_t dev = 0;
	ino_t ino = 0;
	off_t size = 0;
	int64_t mtime_ns = 0;

	bool
	operator==(const FileIdentity &o) const noexcept {
		return dev == o.dev && ino == o.ino && size == o.size && mtime_ns == o.mtime_ns;
	}
};

bool
Identify(const std::string &path, FileIdentity *out) noexcept {
	struct stat st;
	if (stat(path.c_str(), &st) != 0) {
		return false;
	}
	out->dev = st.st_dev;
	out->ino = st.st_ino;
	out->size = st.st_size;
	out->mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
	return true;
}

struct LoadedModel {
	ModelSpec spec;
	FileIdentity metadata_id;
	FileIdentity weights_id;
	torch::jit::Module module;
	c10::Device device {c10::kCPU};
	at::ScalarType dtype = at::kFloat;
	bool channels_last = false;
};

/* The device and dtype a model runs with under `settings`; throws InvalidInput or
 * Unavailable for what this build or machine cannot do. */
void
ResolvePlacement(const ClassifierSettings &settings, c10::Device *device, at::ScalarType *dtype) {
	try {
		*device = c10::Device(settings.device.empty() ? std::string("cpu") : settings.device);
	} catch (const c10::Error &) {
		throw Error(ErrorKind::InvalidInput, "unknown device \"" + settings.device + "\"",
		            "Use cpu, cuda or cuda:N.");
	}
	std::string why;
	if (!DeviceAvailable(settings.device, &why)) {
		throw Error(ErrorKind::Unavailable, why, "Set europeana.worker_devices to devices this server has.");
	}
	if (device->is_cuda() && !device->has_index()) {
		*device = c10::Device(c10::kCUDA, 0); /* "cuda": the first GPU, named, so that its index is usable */
	}
	const std::string &p = settings.precision;
	if (p == "auto" || p.empty()) {
		*dtype = device->is_cuda() ? at::kHalf : at::kFloat;
	} else if (p == "fp32") {
		*dtype = at::kFloat;
	} else if (p == "fp16") {
		*dtype = at::kHalf;
	} else if (p == "bf16") {
		*dtype = at::kBFloat16;
	} else {
		throw Error(ErrorKind::InvalidInput, "unknown precision \"" + p + "\"", "Use auto, fp32, fp16 or bf16.");
	}
	if (!device->is_cuda() && *dtype != at::kFloat) {
		throw Error(ErrorKind::InvalidInput, "precision " + p + " needs a CUDA device",
		            "On the CPU models run in fp32; use precision auto or fp32.");
	}
}

using Cache = std::map<std::string, std::shared_ptr<LoadedModel>>;

/* Forward passes split in halves after a CUDA out-of-memory, since the process started */
std::atomic<int64_t> forward_splits_out_of_memory {0};

/* Deliberately leaked: no destructor may run inside process exit (LibTorch's static
 * destructors are skipped by the glue's fast-exit hook; ours would run against a
 * half-torn-down runtime). */
Cache &
ModelCache() {
	static Cache *cache = new Cache();
	return *cache;
}

std::string
TorchMessage(const c10::Error &e) {
	return e.what_without_backtrace();
}

void
ConfigureRuntime(const ClassifierSettings &settings) {
	static int configured_threads = 0;
	/* OpenMP's thread count is a per-thread setting: set it again on a new calling thread
	 * (a worker classifies on its AsyncClassifier thread) */
	static std::thread::id configured_on;
	if (configured_on != std::this_thread::get_id()) {
		configured_threads = -1;
		configured_on = std::this_thread::get_id();
	}
	static bool configured_once = false;
	if (!configured_once) {
		configured_once = true;
		/* The TorchScript interpreter otherwise catches an op's exception and throws a
		 * std::runtime_error with the script's traceback instead: a CUDA out-of-memory is
		 * no longer a c10::OutOfMemoryError (the forward pass could never be split), no
		 * failure is a c10::Error (a batch was not isolated image by image), and the
		 * traceback is built from the inlined call stacks of a frozen module (a worker on a
		 * nearly full GPU crashed on that path, at which call was not established).
		 * Rethrown as they are, errors keep their type and the op's message. */
		FLAGS_torch_jit_enable_rethrow_caught_exception = true;
		try {
			at::set_num_interop_threads(1);
		} catch (const std::exception &) {
			/* already set in this process; harmless */
		}
		cv::setNumThreads(0); /* OpenCV runs sequentially inside a backend */
	}
	/* Always set once, even when get_num_threads() already says so: set_num_threads also
	 * sizes the pthreadpool that QNNPACK (quantized models) uses, which otherwise keeps
	 * one thread per core. */
	const int threads = std::clamp(settings.intra_op_threads, 1, 256);
	if (configured_threads != threads) {
		at::set_num_threads(threads);
		configured_threads = threads;
	}
}

/* Runs the network on `input` (a float CPU tensor, pinned when the model is on CUDA) and
 * returns the [batch, labels] probabilities as float on the model's device.  On CUDA this
 * only enqueues the copy and the kernels: the caller's Collect waits for them, so decoding
 * can go on meanwhile.  A CUDA out-of-memory splits the batch in halves and retries. */
at::Tensor
LaunchForward(LoadedModel &m, const at::Tensor &input, int64_t pad_to = 0) {
	c10::InferenceMode guard;
	at::Tensor out;
	const int64_t rows = input.size(0);
	try {
		at::Tensor x = input;
		if (m.device.is_cuda()) {
			x = x.to(m.device, m.dtype, /*non_blocking=*/true);
			if (pad_to > rows) {
				/* every forward gets the same shape: a new one makes the TorchScript
				 * executor specialise the graph again (measured: the last, partial batch of
				 * a run took 280 ms instead of ~90) */
				x = at::cat({x, at::zeros({pad_to - rows, x.size(1), x.size(2), x.size(3)}, x.options())}, 0);
			}
			if (m.channels_last) {
				x = x.contiguous(at::MemoryFormat::ChannelsLast);
			}
		}
		const c10::IValue result = m.module.forward({x});
		if (!result.isTensor()) {
			throw Error(ErrorKind::Corrupt, "model \"" + m.spec.name + "\" does not return a tensor",
			            "A classification model must return a [batch, labels] tensor.");
		}
		out = result.toTensor();
		if (out.dim() == 2 && out.size(0) > rows) {
			out = out.narrow(0, 0, rows);
		}
	} catch (const c10::OutOfMemoryError &e) {
#ifdef EUROPEANA_WITH_NVJPEG
		if (m.device.is_cuda()) {
			GpuJpegReleaseBuffers(m.device.index()); /* the decoded pixels of this batch's last blocks */
		}
#endif
		if (input.size(0) > 1) {
			forward_splits_out_of_memory.fetch_add(1);
			const int64_t half = input.size(0) / 2;
			at::Tensor a = LaunchForward(m, input.narrow(0, 0, half));
			at::Tensor b = LaunchForward(m, input.narrow(0, half, input.size(0) - half));
			return at::cat({a, b}, 0);
		}
		throw Error(ErrorKind::ResourceLimit, "out of device memory in model \"" + m.spec.name + "\": " + TorchMessage(e),
		            "Lower europeana.batch_size or run fewer workers on this device.");
	} catch (const c10::Error &e) {
		throw Error(ErrorKind::Internal, "inference failed in model \"" + m.spec.name + "\": " + TorchMessage(e));
	} catch (const Error &) {
		throw;
	} catch (const std::exception &e) {
		/* e.g. a script's own exception (torch::jit::JITException) */
		throw Error(ErrorKind::Internal, "inference failed in model \"" + m.spec.name + "\": " + e.what());
	}
	if (out.dim() != 2 || out.size(1) != static_cast<int64_t>(m.spec.labels.size())) {
		throw Error(ErrorKind::Corrupt,
		            "model \"" + m.spec.name + "\" produces " + std::to_string(out.dim() == 2 ? out.size(1) : -1) +
		                " outputs but its metadata lists " + std::to_string(m.spec.labels.size()) + " labels",
		            "The metadata does not describe this weights file.");
	}
	if (out.size(0) != input.size(0)) {
		throw Error(ErrorKind::Internal,
		            "model \"" + m.spec.name + "\" returned " + std::to_string(out.size(0)) + " rows for a batch of " +
		                std::to_string(input.size(0)));
	}
	out = out.to(at::kFloat);
	switch (m.spec.output) {
	case OutputKind::Logits:
		out = out.softmax(1);
		break;
	case OutputKind::LogProbabilities:
		out = out.exp();
		break;
	case OutputKind::Probabilities:
		break;
	}
	return out;
}

/* Waits for a launched forward and appends its probabilities (row-major) to *probs. */
void
Collect(LoadedModel &m, const at::Tensor &launched, std::vector<float> *probs) {
	c10::InferenceMode guard;
	at::Tensor host;
	try {
		host = launched.to(at::kCPU).contiguous();
	} catch (const c10::Error &e) {
		throw Error(ErrorKind::Internal, "inference failed in model \"" + m.spec.name + "\": " + TorchMessage(e));
	}
	probs->insert(probs->end(), host.data_ptr<float>(), host.data_ptr<float>() + host.numel());
}

void
ForwardInto(LoadedModel &m, const at::Tensor &input, std::vector<float> *probs) {
	probs->clear();
	Collect(m, LaunchForward(m, input), probs);
}

std::shared_ptr<LoadedModel>
LoadModel(const ClassifierSettings &settings, const std::string &name) {
	auto m = std::make_shared<LoadedModel>();
	m->spec = VerifyModel(settings.model_dir, name);
	Identify(m->spec.metadata_path, &m->metadata_id);
	Identify(m->spec.weights_path, &m->weights_id);

	if (m->spec.quantized) {
		const auto engines = at::globalContext().supportedQEngines();
		if (std::find(engines.begin(), engines.end(), at::QEngine::QNNPACK) != engines.end()) {
			at::globalContext().setQEngine(at::QEngine::QNNPACK);
		}
	}
	ResolvePlacement(settings, &m->device, &m->dtype);
	if (m->device.is_cuda() && m->spec.quantized) {
		throw Error(ErrorKind::InvalidInput, "model \"" + name + "\" is quantized and runs on the CPU only",
		            "Use a float model on CUDA devices.");
	}
	m->channels_last = m->device.is_cuda();
	try {
		m->module = torch::jit::load(m->spec.weights_path, m->device);
		m->module.eval();
		{
			/* placement before freezing: frozen weights become graph constants that
			 * Module::to no longer reaches */
			torch::NoGradGuard no_grad;
			if (m->dtype != at::kFloat) {
				m->module.to(m->dtype);
			}
			if (m->channels_last) {
				for (at::Tensor p : m->module.parameters()) {
					if (p.dim() == 4) {
						p.set_data(p.contiguous(at::MemoryFormat::ChannelsLast));
					}
				}
			}
		}
		if (m->spec.optimize && !m->spec.quantized) {
			/* torch.jit.optimize_for_inference(torch.jit.freeze(m)): folds into oneDNN
			 * convolutions, about 20x faster for MobileNetV2 on Debian's build; on CUDA it
			 * folds batch norms into the convolutions. */
			torch::jit::Module frozen = torch::jit::freeze(m->module);
			m->module = torch::jit::optimize_for_inference(frozen);
		}
	} catch (const c10::Error &e) {
		throw Error(ErrorKind::Corrupt, "could not load model \"" + name + "\": " + TorchMessage(e),
		            "The weights file is not a TorchScript archive this LibTorch can read.");
	} catch (const Error &) {
		throw;
	} catch (const std::exception &e) {
		throw Error(ErrorKind::Corrupt, "could not load model \"" + name + "\": " + e.what(),
		            "The weights file is not a TorchScript archive this LibTorch can read.");
	}

	/* Warm up: the first forward runs the profiling executor and oneDNN initialisation
	 * (hundreds of ms); do it now so it counts as load time, and check the output shape. */
	const InputSpec &in = m->spec.input;
	std::vector<float> probs;
	ForwardInto(*m, torch::zeros({1, 3, in.crop_height, in.crop_width}), &probs);
	ForwardInto(*m, torch::zeros({1, 3, in.crop_height, in.crop_width}), &probs);
	return m;
}

std::shared_ptr<LoadedModel>
GetModel(const ClassifierSettings &settings, const std::string &name) {
	Cache &cache = ModelCache();
	const std::string key = settings.model_dir + "\x1f" + name + "\x1f" + settings.device + "\x1f" + settings.precision;
	auto it = cache.find(key);
	if (it != cache.end()) {
		FileIdentity meta, weights;
		if (Identify(it->second->spec.metadata_path, &meta) && Identify(it->second->spec.weights_path, &weights) &&
		    meta == it->second->metadata_id && weights == it->second->weights_id) {
			return it->second;
		}
		cache.erase(it); /* changed or removed on disk: load again (and report errors again) */
	}
	auto m = LoadModel(settings, name);
	cache[key] = m;
	return m;
}

} // namespace

ModelSpec
VerifyModel(const std::string &model_dir, const std::string &model_name) {
	ModelSpec spec = LoadModelSpec(model_dir, model_name);
	FileIdentity id;
	if (!Identify(spec.weights_path, &id)) {
		throw Error(ErrorKind::MissingFile,
		            "weights file of model \"" + model_name + "\" is missing: " + spec.weights_path,
		            "Run \"make models\" to provision the model files.");
	}
	const std::string actual = Sha256FileHex(spec.weights_path);
	if (actual != spec.sha256) {
		throw Error(ErrorKind::Corrupt,
		            "weights file of model \"" + model_name + "\" has sha256 " + actual + ", expected " + spec.sha256,
		            "The file is damaged or is not the one the metadata describes; provision it again.");
	}
	return spec;
}

namespace {

/* Score turns one image's output probabilities into the ranked answer. */
Classification
Score(const ModelSpec &spec, const float *probs, size_t n, const DecodedImage &decoded) {
	Classification result;
	result.model_name = spec.name;
	result.model_version = spec.version;
	result.decode_reduction = decoded.reduction;
	result.width = decoded.header.width;
	result.height = decoded.header.height;
	const float *top = std::max_element(probs, probs + n);
	result.top_label_index = static_cast<int>(top - probs);
	result.top_label = spec.labels[result.top_label_index];
	result.top_label_score = *top;

	std::vector<RankedConcept> concepts(spec.concepts.size());
	RankedConcept none;
	for (size_t c = 0; c < concepts.size(); c++) {
		concepts[c].concept = spec.concepts[c];
	}
	for (size_t i = 0; i < n; i++) {
		const int c = spec.label_concept[i];
		RankedConcept &target = c >= 0 ? concepts[c] : none;
		target.score += probs[i];
		if (target.top_label_index < 0 || probs[i] > target.top_label_score) {
			target.top_label_index = static_cast<int>(i);
			target.top_label_score = probs[i];
		}
	}
	if (spec.kind == ModelKind::Mapped) {
		concepts.push_back(none);
	}
	for (RankedConcept &rc : concepts) {
		if (rc.top_label_index >= 0) {
			rc.top_label = spec.labels[rc.top_label_index];
		}
	}
	std::stable_sort(concepts.begin(), concepts.end(),
	                 [](const RankedConcept &x, const RankedConcept &y) { return x.score > y.score; });
	result.ranked = std::move(concepts);
	return result;
}

DecodeOptions
DecodeOptionsFor(const ModelSpec &spec, const ClassifierSettings &settings) {
	DecodeOptions options;
	options.max_pixels = settings.max_image_pixels;
	options.min_shorter_side = MinDecodeSide(spec.input);
	return options;
}

} // namespace

Classification
ClassifyImage(ByteView image, const std::string &model_name, const ClassifierSettings &settings) {
	SignalBlockScope no_signals;
	ConfigureRuntime(settings);
	std::shared_ptr<LoadedModel> m = GetModel(settings, model_name);
	const ModelSpec &spec = m->spec;

	DecodedImage decoded = DecodeImage(image, DecodeOptionsFor(spec, settings));
	at::Tensor input = torch::empty({1, 3, spec.input.crop_height, spec.input.crop_width}, at::kFloat);
	PreprocessInto(decoded.bgr, spec.input, input.data_ptr<float>());
	decoded.bgr.release();

	std::vector<float> probs;
	ForwardInto(*m, input, &probs);
	return Score(spec, probs.data(), probs.size(), decoded);
}

namespace {
BatchDecodeStats last_stats;
} // namespace

BatchDecodeStats
LastBatchDecodeStats() noexcept {
	BatchDecodeStats s = last_stats;
	s.oom_forward_splits = forward_splits_out_of_memory.load();
#ifdef EUROPEANA_WITH_NVJPEG
	s.oom_gpu_blocks = GpuJpegBlocksOutOfMemory();
#endif
	return s;
}

std::string
DeviceDecoders(const std::string &device) {
#ifdef EUROPEANA_WITH_NVJPEG
	if (device.rfind("cuda", 0) == 0) {
		std::string why;
		if (!DeviceAvailable(device, &why)) {
			return "CPU threads (" + why + ")";
		}
		const c10::Device parsed(device);
		const int index = parsed.has_index() ? parsed.index() : 0;
		std::string backend;
		SignalBlockScope no_signals;
		if (GpuJpegAvailable(index, &backend)) {
			return "CPU threads + nvJPEG " + backend;
		}
		return "CPU threads (nvJPEG: " + backend + ")";
	}
#else
	(void)device;
#endif
	return "CPU threads";
}

namespace {

/*
 * The decoding side of a batch: items are decoded and preprocessed into their rows of a
 * host tensor by a pool of threads and by the calling thread.  Items are taken in index
 * order; with a FetchImage the calling thread supplies their bytes one by one (Supply) and a
 * thread waits for the bytes of the item it took.  A bad image becomes its outcome, never a
 * failed batch.  Threads never call PostgreSQL or LibTorch.  The destructor stops and joins
 * the pool however the caller's scope is left.
 */
class DecodeWork {
public:
	DecodeWork(std::vector<BatchItem> &items, const ModelSpec &spec, const DecodeOptions &options, float *rows,
	           bool streamed)
	    : items_(items), spec_(spec), options_(options), rows_(rows), n_(items.size()), out_(n_), decoded_(n_),
	      supplied_(streamed ? 0 : n_) {
	}
	DecodeWork(const DecodeWork &) = delete;
	DecodeWork &operator=(const DecodeWork &) = delete;
	~DecodeWork() {
		Stop();
		Join();
	}

	/* Runs after each item is decoded, on the thread that decoded it. */
	void
	OnDecoded(std::function<void(size_t)> fn) {
		on_decoded_ = std::move(fn);
	}

	void
	StartThreads(int threads) {
		const size_t count = std::clamp<size_t>(static_cast<size_t>(std::max(threads, 1)), 1, std::max<size_t>(n_, 1));
		for (size_t t = 1; t < count; t++) {
			pool_.emplace_back([this] {
				for (size_t i = Take(); i < n_ && !stopped_.load(); i = Take()) {
					if (!WaitSupplied(i)) {
						return;
					}
					if (!skip_[i]) {
						Process(i);
					}
				}
			});
		}
	}

	/* Reserves the next item from the front for the caller; returns it (>= size() when none
	 * are left). */
	size_t
	Take() {
		const size_t i = next_.fetch_add(1);
		return i < n_ ? i : n_;
	}

	/* Leaves item i to the caller (before it is supplied, or before the threads start). */
	void
	Skip(size_t i) {
		skip_[i] = 1;
	}

	void
	Supply(size_t i, ByteView bytes) {
		items_[i].image = bytes;
		{
			std::lock_guard<std::mutex> lock(mu_);
			supplied_.store(i + 1);
		}
		ready_.notify_all();
	}

	size_t
	Supplied() const {
		return supplied_.load();
	}

	void
	Process(size_t i) {
		BatchOutcome &o = out_[i];
		o.key = items_[i].key;
		try {
			decoded_[i] = DecodeImage(items_[i].image, options_);
			PreprocessInto(decoded_[i].bgr, spec_.input, rows_ + RowSize() * static_cast<int64_t>(i));
			decoded_[i].bgr.release();
			o.ok = true;
		} catch (const Error &e) {
			o.error_kind = e.Kind();
			o.error = e.what();
			o.hint = e.Hint();
		} catch (const std::bad_alloc &) {
			o.error_kind = ErrorKind::ResourceLimit;
			o.error = "out of memory while decoding the image";
		} catch (const std::exception &e) {
			o.error_kind = ErrorKind::Internal;
			o.error = e.what();
		}
		if (on_decoded_) {
			on_decoded_(i);
		}
	}

	void
	Stop() {
		{
			std::lock_guard<std::mutex> lock(mu_);
			stopped_.store(true);
		}
		ready_.notify_all();
	}

	bool
	Stopped() const {
		return stopped_.load();
	}

	/* Waits for the pool (every item taken has been processed, or the work was stopped). */
	void
	Join() {
		for (std::thread &t : pool_) {
			if (t.joinable()) {
				t.join();
			}
		}
	}

	int64_t
	RowSize() const {
		return static_cast<int64_t>(3) * spec_.input.crop_height * spec_.input.crop_width;
	}

	std::vector<BatchOutcome> &
	Outcomes() {
		return out_;
	}
	std::vector<DecodedImage> &
	Decoded() {
		return decoded_;
	}
	std::mutex &
	Mutex() {
		return mu_;
	}

private:
	bool
	WaitSupplied(size_t i) {
		if (supplied_.load() > i) {
			return true;
		}
		std::unique_lock<std::mutex> lock(mu_);
		ready_.wait(lock, [&] { return supplied_.load() > i || stopped_.load(); });
		return !stopped_.load();
	}

	std::vector<BatchItem> &items_;
	const ModelSpec &spec_;
	const DecodeOptions &options_;
	float *rows_;
	const size_t n_;
	std::vector<BatchOutcome> out_;
	std::vector<DecodedImage> decoded_;
	std::vector<char> skip_ = std::vector<char>(n_, 0);
	std::function<void(size_t)> on_decoded_;
	std::mutex mu_;
	std::condition_variable ready_;
	std::atomic<size_t> supplied_;
	std::atomic<size_t> next_ {0}; /* the next item to take from the front */
	std::atomic<bool> stopped_ {false};
	std::vector<std::thread> pool_;
};

/* How many rows a padded forward has: `rows`, within the graph's declared maximum. */
int64_t
PadRows(const ModelSpec &spec, int64_t rows) {
	return spec.max_batch > 0 ? std::min<int64_t>(rows, spec.max_batch) : rows;
}

/* A batch buffer of `n` rows whose allocation has `pad_rows` rows when that is more.  The
 * caching allocators (pinned host memory rounds sizes up to a power of two, device memory
 * to its size classes) then give every batch of a worker the same block, where a partial
 * batch would otherwise pin a new one (cudaHostAlloc of ~130 MB). */
at::Tensor
BatchBuffer(int64_t n, int64_t pad_rows, const ModelSpec &spec, const at::TensorOptions &options) {
	const int64_t rows = std::max(n, pad_rows);
	return torch::empty({rows, 3, spec.input.crop_height, spec.input.crop_width}, options).narrow(0, 0, n);
}

/* Scores the probabilities of the good items (in order) into their outcomes. */
void
ScoreInto(const ModelSpec &spec, const std::vector<float> &probs, const std::vector<int64_t> &good,
          std::vector<BatchOutcome> &out, const std::vector<DecodedImage> &decoded) {
	const size_t labels = spec.labels.size();
	for (size_t g = 0; g < good.size(); g++) {
		const size_t i = static_cast<size_t>(good[g]);
		out[i].result = Score(spec, probs.data() + g * labels, labels, decoded[i]);
	}
}

#ifdef EUROPEANA_WITH_NVJPEG
/* fn(0..n-1) on up to `threads` threads (this one included), in any order.  fn must not
 * throw. */
void
ParallelFor(size_t n, int threads, const std::function<void(size_t)> &fn) {
	const size_t count = std::clamp<size_t>(static_cast<size_t>(std::max(threads, 1)), 1, std::max<size_t>(n / 8, 1));
	std::atomic<size_t> next {0};
	const auto body = [&] {
		for (size_t i = next++; i < n; i = next++) {
			fn(i);
		}
	};
	std::vector<std::thread> pool;
	try {
		for (size_t t = 1; t < count; t++) {
			pool.emplace_back(body);
		}
	} catch (const std::exception &) {
		/* no more threads (a resource limit): the ones started and this one do it all */
	}
	body();
	for (std::thread &t : pool) {
		t.join();
	}
}

/* A JPEG that nvJPEG decodes exactly as the CPU path would: baseline or extended
 * Huffman, three components, no EXIF rotation, within the pixel limit. */
bool
SuitsGpu(ByteView bytes, const DecodeOptions &options, ImageHeader *header) noexcept {
	try {
		*header = ReadImageHeader(bytes);
	} catch (...) {
		return false; /* it goes to the CPU, which says what is wrong with it */
	}
	return header->format == ImageFormat::Jpeg && header->complete &&
	       (header->jpeg_frame == 0xC0 || header->jpeg_frame == 0xC1) && header->components == 3 &&
	       header->orientation == 1 &&
	       static_cast<uint64_t>(header->width) * header->height <= options.max_pixels;
}

/* A block's decoded images share one device buffer: blocks end before it passes this size
 * (256 photos of 2.5 MP take 1.9 GB; a block of large scans would otherwise take many). */
constexpr uint64_t kGpuBlockBytes = uint64_t {2} << 30;

/* GpuJpeg::Shared: the GPU's share of a batch's JPEGs, adapted batch by batch (this process
 * classifies on one thread at a time). */
double shared_gpu_share = 0.75;

/*
 * ClassifyBatch on CUDA with nvJPEG.  The JPEGs the GPU takes (GpuJpeg::On: all it suits;
 * Shared: those in the back part of the batch) go to it in blocks, decoded by the calling
 * thread once every item's bytes are supplied; the decode threads take the other images,
 * from the front.  Both write preprocessed rows (the CPU into pinned host memory, the GPU
 * straight into the device batch), then one forward runs over the batch.
 */
std::vector<BatchOutcome>
ClassifyBatchGpuDecode(std::vector<BatchItem> items, LoadedModel &m, const ClassifierSettings &settings,
                       int decode_threads, const ShouldStop &should_stop, const FetchImage &fetch) {
	const ModelSpec &spec = m.spec;
	const DecodeOptions options = DecodeOptionsFor(spec, settings);
	const size_t n = items.size();
	const int64_t pad_rows = PadRows(spec, settings.pad_batch);
	at::Tensor host =
	    BatchBuffer(static_cast<int64_t>(n), pad_rows, spec, at::TensorOptions().dtype(at::kFloat).pinned_memory(true));
	at::Tensor dev =
	    BatchBuffer(static_cast<int64_t>(n), pad_rows, spec, at::TensorOptions().dtype(at::kFloat).device(m.device));
	std::vector<char> on_gpu(n, 0);
	const int64_t failures_before = GpuJpegFailures(nullptr);

	DecodeWork work(items, spec, options, host.data_ptr<float>(), static_cast<bool>(fetch));
	std::vector<BatchOutcome> &out = work.Outcomes();
	std::vector<DecodedImage> &decoded = work.Decoded();
	GpuTimelineStart(m.device.index());
	const bool exclusive = settings.gpu_jpeg == ClassifierSettings::GpuJpeg::On;
	/* The JPEGs the GPU takes are its own; the threads never take them, and take everything
	 * else (other formats, JPEGs nvJPEG does not suit).  On: every JPEG the GPU suits.
	 * Shared: those in the back part of the batch, its share (which follows both sides'
	 * measured rates, see below, so that they finish together); the threads start at the
	 * front. */
	const size_t gpu_from =
	    exclusive ? 0
	              : n - std::min(n, static_cast<size_t>(std::lround(static_cast<double>(n) * shared_gpu_share)));
	std::vector<ImageHeader> headers(n);
	std::vector<char> suits(n, 0);
	std::vector<char> to_gpu(n, 0);
	const auto sort = [&](size_t i) {
		suits[i] = SuitsGpu(items[i].image, options, &headers[i]) ? 1 : 0;
		if (suits[i] && i >= gpu_from) {
			to_gpu[i] = 1;
			work.Skip(i);
		}
	};
	using Clock = std::chrono::steady_clock;
	const auto ms_since = [](Clock::time_point t) {
		return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
	};
	double sniff_ms = 0, submit_ms = 0, join_ms = 0, upload_ms = 0;
	if (!fetch) {
		/* every header is read before any thread starts (the threads must know what to
		 * skip); on the decode threads' cores, since the check for a complete JPEG reads the
		 * whole entropy-coded data (~13 ms for 256 photos on one core) */
		const Clock::time_point t = Clock::now();
		ParallelFor(n, decode_threads, sort);
		sniff_ms = ms_since(t);
	}
	work.StartThreads(decode_threads);
	for (size_t p = work.Supplied(); p < n && !work.Stopped(); p++) {
		if (should_stop && should_stop()) {
			work.Stop();
			break;
		}
		items[p].image = fetch(p);
		sort(p);
		work.Supply(p, items[p].image);
	}

	/* Decodes the block's items that suit the GPU in one nvJPEG call, the rest (and any it
	 * refuses) on this thread. */
	const auto gpu_block = [&](const std::vector<size_t> &block) {
		const Clock::time_point t = Clock::now();
		std::vector<ByteView> jpegs;
		std::vector<int64_t> rows;
		std::vector<size_t> cpu;
		for (size_t i : block) {
			if (suits[i]) {
				jpegs.push_back(items[i].image);
				rows.push_back(static_cast<int64_t>(i));
			} else {
				cpu.push_back(i);
			}
		}
		const std::vector<bool> done = GpuDecodeJpegs(m.device.index(), jpegs, rows, spec.input, dev);
		submit_ms += ms_since(t);
		for (size_t k = 0; k < rows.size(); k++) {
			const size_t i = static_cast<size_t>(rows[k]);
			if (done[k]) {
				out[i].key = items[i].key;
				out[i].ok = true;
				decoded[i].header = headers[i];
				on_gpu[i] = 1;
			} else {
				cpu.push_back(i);
			}
		}
		for (size_t i : cpu) {
			work.Process(i);
		}
	};
	const size_t max_block = static_cast<size_t>(std::max(settings.gpu_jpeg_block, 1));
	const auto decode_started = Clock::now();
	{
		std::vector<size_t> block;
		uint64_t block_bytes = 0;
		for (size_t i = 0; i < n && !work.Stopped(); i++) {
			if (to_gpu[i]) {
				block.push_back(i);
				block_bytes += static_cast<uint64_t>(headers[i].width) * headers[i].height * 3;
			}
			if (block.size() == max_block || (block_bytes >= kGpuBlockBytes && !block.empty()) ||
			    (i + 1 == n && !block.empty())) {
				if (should_stop && should_stop()) {
					work.Stop();
					break;
				}
				gpu_block(block);
				block.clear();
				block_bytes = 0;
			}
		}
		/* then help the threads with what is left of theirs */
		for (size_t i = work.Take(); i < n && !work.Stopped(); i = work.Take()) {
			if (!to_gpu[i]) {
				work.Process(i);
			}
		}
	}
	{
		const Clock::time_point t = Clock::now();
		work.Join();
		join_ms = ms_since(t);
	}
	if (work.Stopped()) {
		throw Error(ErrorKind::Cancelled, "classification cancelled");
	}
	const double cpu_side_ms = ms_since(decode_started); /* until the last image was decoded */
	last_stats = BatchDecodeStats();
	for (size_t i = 0; i < n; i++) {
		(on_gpu[i] ? last_stats.gpu_decoded : last_stats.cpu_decoded) += 1;
	}
	{
		std::string why;
		last_stats.gpu_failures = static_cast<int>(GpuJpegFailures(&why) - failures_before);
		if (last_stats.gpu_failures > 0) {
			snprintf(last_stats.gpu_last_failure, sizeof(last_stats.gpu_last_failure), "%s", why.c_str());
		}
	}

	/* CPU-decoded rows join the GPU-decoded ones on the device */
	std::vector<int64_t> cpu_rows, good;
	for (size_t i = 0; i < n; i++) {
		if (out[i].ok) {
			good.push_back(static_cast<int64_t>(i));
			if (!on_gpu[i]) {
				cpu_rows.push_back(static_cast<int64_t>(i));
			}
		}
	}
	if (good.empty()) {
		return std::move(out);
	}
	/* each run of consecutive rows in one asynchronous copy from the pinned buffer: a gather
	 * on the host (index_select, then pinning the result) took ~25 ms for 90 rows */
	const Clock::time_point upload_started = Clock::now();
	for (size_t a = 0; a < cpu_rows.size();) {
		size_t b = a + 1;
		while (b < cpu_rows.size() && cpu_rows[b] == cpu_rows[b - 1] + 1) {
			b++;
		}
		const int64_t first = cpu_rows[a], count = static_cast<int64_t>(b - a);
		dev.narrow(0, first, count).copy_(host.narrow(0, first, count), /*non_blocking=*/true);
		a = b;
	}
	upload_ms = ms_since(upload_started);
	at::Tensor batch = good.size() == n ? dev : dev.index_select(0, torch::tensor(good, at::kLong).to(m.device));
	const int64_t max_batch = spec.max_batch > 0 ? spec.max_batch : batch.size(0);
	std::vector<float> probs;
	for (int64_t g = 0; g < batch.size(0); g += max_batch) {
		GpuTimelineMark(GpuStage::Other);
		const at::Tensor launched = LaunchForward(m, batch.narrow(0, g, std::min(max_batch, batch.size(0) - g)), pad_rows);
		GpuTimelineMark(GpuStage::Forward);
		Collect(m, launched, &probs);
	}
	last_stats.host_sniff_ms = sniff_ms;
	last_stats.host_submit_ms = submit_ms;
	last_stats.host_join_ms = join_ms;
	last_stats.host_upload_ms = upload_ms;
	const GpuStageTimes times = GpuTimelineRead();
	if (times.valid) {
		last_stats.gpu_decode_ms = times.decode_ms;
		last_stats.gpu_preprocess_ms = times.preprocess_ms;
		last_stats.gpu_forward_ms = times.forward_ms;
		last_stats.gpu_other_ms = times.other_ms;
		/* Shared: the GPU's rate (images per ms of its decode and preprocessing) against the
		 * CPU side's (images per ms until the last was done) sets the next batch's share */
		const int gpu = last_stats.gpu_decoded, cpu = last_stats.cpu_decoded;
		const double gpu_ms = times.decode_ms + times.preprocess_ms;
		if (!exclusive && gpu > 0 && cpu > 0 && gpu_ms > 0 && cpu_side_ms > 0) {
			const double rg = gpu / gpu_ms;
			const double rc = cpu / cpu_side_ms;
			shared_gpu_share = std::clamp(0.5 * shared_gpu_share + 0.5 * rg / (rg + rc), 0.3, 0.97);
		}
	}
	/* the stream is synchronised (Collect): the blocks' buffers go back to the cache now,
	 * not when the next batch reuses their states */
	GpuJpegReleaseBuffers(m.device.index());
	ScoreInto(spec, probs, good, out, decoded);
	return std::move(out);
}
#endif

} // namespace

/* ClassifyBatch, with LibTorch's own errors left as they are */
static std::vector<BatchOutcome>
ClassifyBatchTorch(const std::vector<BatchItem> &items_in, const std::string &model_name,
                   const ClassifierSettings &settings, int decode_threads, const ShouldStop &should_stop,
                   const FetchImage &fetch) {
	SignalBlockScope no_signals;
	ConfigureRuntime(settings);
	std::shared_ptr<LoadedModel> m = GetModel(settings, model_name);
	const ModelSpec &spec = m->spec;
	const DecodeOptions options = DecodeOptionsFor(spec, settings);
	std::vector<BatchItem> items = items_in; /* fetch fills in the bytes */
	const size_t n = items.size();
	const bool gpu = m->device.is_cuda();
	if (n == 0) {
		return {};
	}
	/* the model's GPU is this thread's current device, so that pinned host buffers and
	 * streams belong to it (a worker on cuda:1 creates no context on cuda:0) */
	const c10::DeviceGuard device_guard(m->device);
#ifdef EUROPEANA_WITH_NVJPEG
	std::string backend;
	if (gpu && settings.gpu_jpeg != ClassifierSettings::GpuJpeg::Off && GpuJpegAvailable(m->device.index(), &backend)) {
		return ClassifyBatchGpuDecode(std::move(items), *m, settings, decode_threads, should_stop, fetch);
	}
#endif

	/* pinned host memory on CUDA, so that the copy to the device is asynchronous */
	at::Tensor input = BatchBuffer(static_cast<int64_t>(n), gpu ? PadRows(spec, settings.pad_batch) : 0, spec,
	                               at::TensorOptions().dtype(at::kFloat).pinned_memory(gpu));

	/* Chunks: on CUDA the forward of a chunk is launched as soon as its images are decoded,
	 * and the GPU runs it while the threads decode the next chunk.  On the CPU the forward
	 * needs the cores itself, so the batch is one chunk. */
	const size_t chunk = gpu && settings.pipeline_chunk > 0 ? static_cast<size_t>(settings.pipeline_chunk) : n;
	const size_t nchunks = (n + chunk - 1) / chunk;
	const auto chunk_size = [&](size_t c) { return std::min(chunk, n - c * chunk); };
	std::unique_ptr<std::atomic<size_t>[]> done(new std::atomic<size_t>[nchunks]);
	for (size_t c = 0; c < nchunks; c++) {
		done[c].store(0);
	}
	std::condition_variable chunk_done;

	DecodeWork work(items, spec, options, input.data_ptr<float>(), static_cast<bool>(fetch));
	std::vector<BatchOutcome> &out = work.Outcomes();
	work.OnDecoded([&](size_t i) {
		const size_t c = i / chunk;
		if (done[c].fetch_add(1) + 1 == chunk_size(c)) {
			std::lock_guard<std::mutex> lock(work.Mutex());
			chunk_done.notify_all();
		}
	});
	work.StartThreads(decode_threads);

	/* The calling thread supplies the bytes (when fetched), decodes too, launches each
	 * chunk's forward as soon as the chunk is complete, and is the only one that polls
	 * should_stop (it may read the caller's interrupt flags, which only the main thread
	 * should). */
	std::vector<std::vector<int64_t>> good(nchunks);
	std::vector<std::vector<at::Tensor>> launched(nchunks);
	const int64_t max_batch = spec.max_batch > 0 ? spec.max_batch : static_cast<int64_t>(n);
	const auto launch = [&](size_t c) {
		const int64_t first = static_cast<int64_t>(c * chunk);
		for (int64_t i = first; i < first + static_cast<int64_t>(chunk_size(c)); i++) {
			if (out[static_cast<size_t>(i)].ok) {
				good[c].push_back(i);
			}
		}
		if (good[c].empty()) {
			return;
		}
		at::Tensor batch = good[c].size() == chunk_size(c)
		                       ? input.narrow(0, first, static_cast<int64_t>(chunk_size(c)))
		                       : input.index_select(0, torch::tensor(good[c], at::kLong));
		/* Never feed a graph a larger batch than its metadata allows: a file exported for
		 * batch 1 (the quantized mobile MobileNetV2) does not fail cleanly on more, QNNPACK
		 * crashes. */
		const int64_t pad_to = gpu && settings.pad_batch > 0 ? PadRows(spec, static_cast<int64_t>(chunk)) : 0;
		for (int64_t g = 0; g < batch.size(0); g += max_batch) {
			launched[c].push_back(
			    LaunchForward(*m, batch.narrow(0, g, std::min(max_batch, batch.size(0) - g)), pad_to));
		}
	};
	size_t c = 0;
	while (c < nchunks) {
		if (done[c].load() == chunk_size(c)) {
			launch(c++);
			continue;
		}
		if (should_stop && should_stop()) {
			work.Stop();
			break;
		}
		const size_t p = work.Supplied();
		if (p < n) {
			work.Supply(p, fetch(p));
			continue;
		}
		const size_t i = work.Take();
		if (i < n) {
			work.Process(i);
			continue;
		}
		std::unique_lock<std::mutex> lock(work.Mutex());
		chunk_done.wait(lock, [&] { return done[c].load() == chunk_size(c); });
	}
	work.Join();
	if (work.Stopped()) {
		throw Error(ErrorKind::Cancelled, "classification cancelled");
	}

	last_stats = BatchDecodeStats();
	last_stats.cpu_decoded = static_cast<int>(n);
	std::vector<float> probs;
	for (size_t k = 0; k < nchunks; k++) {
		probs.clear();
		for (const at::Tensor &t : launched[k]) {
			Collect(*m, t, &probs);
		}
		ScoreInto(spec, probs, good[k], out, work.Decoded());
	}
	return std::move(out);
}

std::vector<BatchOutcome>
ClassifyBatch(const std::vector<BatchItem> &items, const std::string &model_name, const ClassifierSettings &settings,
              int decode_threads, const ShouldStop &should_stop, const FetchImage &fetch) {
	/* LibTorch errors outside the forward pass (the batch's buffers, its gather on the
	 * device) become errors of their kind, so that a caller can split or isolate the batch */
	try {
		return ClassifyBatchTorch(items, model_name, settings, decode_threads, should_stop, fetch);
	} catch (const c10::OutOfMemoryError &e) {
		throw Error(ErrorKind::ResourceLimit,
		            "out of memory for a batch of " + std::to_string(items.size()) + " images: " + TorchMessage(e),
		            "Lower europeana.batch_size or run fewer workers on this device.");
	} catch (const c10::Error &e) {
		throw Error(ErrorKind::Internal, "classification failed in model \"" + model_name + "\": " + TorchMessage(e));
	}
}

std::vector<BatchOutcome>
ClassifyBatchOrEach(const std::vector<BatchItem> &items, const std::string &model_name,
                    const ClassifierSettings &settings, int decode_threads, const ShouldStop &should_stop,
                    const FetchImage &fetch) {
	try {
		return ClassifyBatch(items, model_name, settings, decode_threads, should_stop, fetch);
	} catch (const Error &e) {
		if (e.Kind() != ErrorKind::Internal && e.Kind() != ErrorKind::ResourceLimit) {
			throw; /* cancelled, or the model or device is unusable: not the images' fault */
		}
	}
	std::vector<BatchOutcome> outcomes;
	outcomes.reserve(items.size());
	ClassifierSettings alone = settings;
	alone.pad_batch = 0; /* one image: a padded forward would be the batch again */
	for (size_t k = 0; k < items.size(); k++) {
		BatchItem item = items[k];
		try {
			if (fetch) {
				item.image = fetch(k);
			}
			auto single = ClassifyBatch({item}, model_name, alone, 1, should_stop);
			outcomes.push_back(std::move(single[0]));
		} catch (const Error &one) {
			if (one.Kind() == ErrorKind::Cancelled) {
				throw;
			}
			BatchOutcome failed;
			failed.key = item.key;
			failed.error_kind = one.Kind();
			failed.error = one.what();
			failed.hint = one.Hint();
			outcomes.push_back(std::move(failed));
		}
	}
	return outcomes;
}

int
DecodeThreadsFor(const ClassifierSettings &settings, int available) noexcept {
	const bool cpu = settings.device.empty() || settings.device == "cpu";
	return cpu && settings.intra_op_threads > 1 ? 1 : std::max(available, 1);
}

bool
DeviceAvailable(const std::string &device, std::string *why) {
	if (device.empty() || device == "cpu") {
		return true;
	}
	if (device != "cuda" && device.rfind("cuda:", 0) != 0) {
		*why = "unknown device \"" + device + "\"";
		return false;
	}
	if (!torch::cuda::is_available()) {
		*why = "device " + device + " is not available: this build of LibTorch or this machine has no CUDA";
		return false;
	}
	if (device.size() > 5) {
		char *end = nullptr;
		const long index = strtol(device.c_str() + 5, &end, 10);
		if (end == nullptr || *end != '\0' || index < 0 ||
		    index >= static_cast<long>(torch::cuda::device_count())) {
			*why = "device " + device + " is not available: this machine has " +
			       std::to_string(torch::cuda::device_count()) + " CUDA devices";
			return false;
		}
	}
	return true;
}

int
LoadedModelCount() noexcept {
	return static_cast<int>(ModelCache().size());
}

void
ReleaseModels() noexcept {
	try {
		ModelCache().clear();
	} catch (...) {
	}
}

} // namespace europeana::core
