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

#include <ATen/Parallel.h>
#include <opencv2/core/utility.hpp>
#include <torch/script.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <thread>
#include <memory>
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
};

using Cache = std::map<std::string, std::shared_ptr<LoadedModel>>;

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
	if (configured_threads == 0) {
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

void
ForwardInto(LoadedModel &m, const at::Tensor &input, std::vector<float> *probs) {
	c10::InferenceMode guard;
	at::Tensor out;
	try {
		const c10::IValue result = m.module.forward({input});
		if (!result.isTensor()) {
			throw Error(ErrorKind::Corrupt, "model \"" + m.spec.name + "\" does not return a tensor",
			            "A classification model must return a [batch, labels] tensor.");
		}
		out = result.toTensor();
	} catch (const c10::Error &e) {
		throw Error(ErrorKind::Internal, "inference failed in model \"" + m.spec.name + "\": " + TorchMessage(e));
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
	out = out.to(at::kFloat).contiguous();
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
	probs->assign(out.data_ptr<float>(), out.data_ptr<float>() + out.numel());
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
	try {
		m->module = torch::jit::load(m->spec.weights_path, c10::Device(c10::kCPU));
		m->module.eval();
		if (m->spec.optimize && !m->spec.quantized) {
			/* torch.jit.optimize_for_inference(torch.jit.freeze(m)): folds into oneDNN
			 * convolutions, about 20x faster for MobileNetV2 on Debian's build. */
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
	const std::string key = settings.model_dir + "\x1f" + name;
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

std::vector<BatchOutcome>
ClassifyBatch(const std::vector<BatchItem> &items, const std::string &model_name, const ClassifierSettings &settings,
              int decode_threads, const ShouldStop &should_stop) {
	SignalBlockScope no_signals;
	ConfigureRuntime(settings);
	std::shared_ptr<LoadedModel> m = GetModel(settings, model_name);
	const ModelSpec &spec = m->spec;
	const DecodeOptions options = DecodeOptionsFor(spec, settings);
	const size_t n = items.size();
	const int64_t plane = static_cast<int64_t>(3) * spec.input.crop_height * spec.input.crop_width;

	std::vector<BatchOutcome> out(n);
	std::vector<DecodedImage> decoded(n);
	at::Tensor input = torch::empty({static_cast<int64_t>(n), 3, spec.input.crop_height, spec.input.crop_width},
	                                at::kFloat);
	float *base = input.data_ptr<float>();

	/* Decode and preprocess in parallel: each thread takes the next item and writes its
	 * own slice of the batch tensor.  A bad image is an outcome, never a failed batch. */
	const auto process = [&](size_t i) {
		BatchOutcome &o = out[i];
		o.key = items[i].key;
		try {
			decoded[i] = DecodeImage(items[i].image, options);
			PreprocessInto(decoded[i].bgr, spec.input, base + plane * static_cast<int64_t>(i));
			decoded[i].bgr.release();
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
	};
	std::atomic<size_t> next {0};
	std::atomic<bool> stopped {false};
	const auto worker = [&] {
		for (size_t i = next.fetch_add(1); i < n && !stopped.load(); i = next.fetch_add(1)) {
			process(i);
		}
	};
	const size_t threads = std::clamp<size_t>(static_cast<size_t>(std::max(decode_threads, 1)), 1, std::max<size_t>(n, 1));
	std::vector<std::thread> pool;
	for (size_t t = 1; t < threads; t++) {
		pool.emplace_back(worker);
	}
	/* The calling thread decodes too, and is the only one that polls should_stop (it may
	 * read the caller's interrupt flags, which only the main thread should). */
	for (size_t i = next.fetch_add(1); i < n; i = next.fetch_add(1)) {
		if (should_stop && should_stop()) {
			stopped.store(true);
			break;
		}
		process(i);
	}
	for (std::thread &t : pool) {
		t.join();
	}
	if (stopped.load()) {
		throw Error(ErrorKind::Cancelled, "classification cancelled");
	}

	/* One forward over the images that decoded; failed slots are left out. */
	std::vector<int64_t> good;
	for (size_t i = 0; i < n; i++) {
		if (out[i].ok) {
			good.push_back(static_cast<int64_t>(i));
		}
	}
	if (good.empty()) {
		return out;
	}
	at::Tensor batch = good.size() == n ? input : input.index_select(0, torch::tensor(good, at::kLong));
	/* Never feed a graph a larger batch than its metadata allows: a file exported for batch
	 * 1 (the quantized mobile MobileNetV2) does not fail cleanly on more, QNNPACK crashes. */
	std::vector<float> probs;
	const int64_t chunk = spec.max_batch > 0 ? spec.max_batch : batch.size(0);
	std::vector<float> part;
	for (int64_t g = 0; g < batch.size(0); g += chunk) {
		ForwardInto(*m, batch.narrow(0, g, std::min(chunk, batch.size(0) - g)), &part);
		probs.insert(probs.end(), part.begin(), part.end());
	}
	const size_t labels = spec.labels.size();
	for (size_t g = 0; g < good.size(); g++) {
		const size_t i = static_cast<size_t>(good[g]);
		out[i].result = Score(spec, probs.data() + g * labels, labels, decoded[i]);
	}
	return out;
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
