/*
 * classifier_test.cpp — end-to-end inference on the real ImageNet MobileNetV2 files
 * (external data: $EUROPEANA_MODEL_SOURCE, default ../shared/models).
 */
#include "core/classify/async_classifier.hpp"
#include "core/classify/classifier.hpp"
#include "core/common/error.hpp"
#include "core/common/sha256.hpp"
#include "test_support.hpp"

#include <sys/stat.h>
#include <torch/script.h>

namespace europeana::core {
namespace {

using testing::ModelSource;
using testing::ReadFile;
using testing::TempDir;
using testing::View;

/* A model directory with the repository's metadata and symlinks to the external weights. */
class ModelDir : public ::testing::Test {
protected:
	void
	SetUp() override {
		struct stat st;
		ASSERT_EQ(stat((ModelSource() + "/mobilenet_v2_imagenet_float.pt").c_str(), &st), 0)
		    << "external model files are missing: " << ModelSource() << " (set EUROPEANA_MODEL_SOURCE)";
		const std::string cmd = "cp '" + testing::RepoModels() + "'/*.model.json '" + testing::RepoModels() +
		                        "'/*.tsv '" + dir_.Path() + "' && ln -s '" + ModelSource() + "'/*.pt '" +
		                        ModelSource() + "/imagenet_classes.txt' '" + dir_.Path() + "'";
		ASSERT_EQ(std::system(cmd.c_str()), 0);
		settings_.model_dir = dir_.Path();
	}

	TempDir dir_;
	ClassifierSettings settings_;
};

TEST_F(ModelDir, SamplesGetTheirImagenetLabels) {
	const std::pair<const char *, const char *> expected[] = {
	    {"parrot.jpg", "macaw"}, {"cat.bmp", "Egyptian cat"}, {"hot_dog.jpg", "hotdog, hot dog, red hot"},
	    {"grace_hopper.bmp", "military uniform"}, {"sunflower.bmp", "daisy"}, {"owl.jpg", "kite"}};
	for (const char *model : {"mobilenet_v2_imagenet_float", "mobilenet_v2_imagenet_quantized"}) {
		for (const auto &[file, label] : expected) {
			const auto bytes = ReadFile(ModelSource() + "/samples/" + file);
			const Classification c = ClassifyImage(View(bytes), model, settings_);
			EXPECT_EQ(c.top_label, label) << model << " " << file;
			EXPECT_EQ(c.model_name, model);
			EXPECT_EQ(c.model_version, "1.0.0");
			float total = 0;
			for (const auto &r : c.ranked) {
				total += r.score;
			}
			EXPECT_NEAR(total, 1.0f, 1e-3) << "concept scores plus none add up to one";
		}
	}
}

TEST_F(ModelDir, MilitaryUniformIsClothing) {
	const auto bytes = ReadFile(ModelSource() + "/samples/grace_hopper.bmp");
	const Classification c = ClassifyImage(View(bytes), "mobilenet_v2_imagenet_float", settings_);
	ASSERT_FALSE(c.ranked.empty());
	EXPECT_EQ(c.ranked[0].concept, "clothing");
	EXPECT_EQ(c.ranked[0].top_label, "military uniform");
}

TEST_F(ModelDir, DamagedWeightsAreRefused) {
	/* checksum mismatch */
	const std::string meta = dir_.Path() + "/mobilenet_v2_imagenet_float.model.json";
	const auto meta_bytes = ReadFile(meta);
	std::string text(meta_bytes.begin(), meta_bytes.end());
	const std::string bad_dir = dir_.Path() + "/bad";
	ASSERT_EQ(mkdir(bad_dir.c_str(), 0755), 0);
	ASSERT_EQ(std::system(("cp '" + dir_.Path() + "'/*.tsv '" + dir_.Path() + "'/imagenet_classes.txt '" + bad_dir +
	                       "'")
	                          .c_str()),
	          0);
	testing::WriteFile(bad_dir + "/mobilenet_v2_imagenet_float.pt", "this is not a zip archive");
	testing::WriteFile(bad_dir + "/mobilenet_v2_imagenet_float.model.json", text);
	ClassifierSettings bad = settings_;
	bad.model_dir = bad_dir;
	const auto image = ReadFile(ModelSource() + "/samples/parrot.jpg");
	try {
		ClassifyImage(View(image), "mobilenet_v2_imagenet_float", bad);
		FAIL() << "checksum mismatch not detected";
	} catch (const Error &e) {
		EXPECT_EQ(e.Kind(), ErrorKind::Corrupt);
		EXPECT_NE(std::string(e.what()).find("sha256"), std::string::npos);
	}

	/* right checksum, but not a TorchScript archive */
	const std::string sha = Sha256FileHex(bad_dir + "/mobilenet_v2_imagenet_float.pt");
	const auto pos = text.find("5912d313");
	ASSERT_NE(pos, std::string::npos);
	text.replace(pos, 64, sha);
	testing::WriteFile(bad_dir + "/mobilenet_v2_imagenet_float.model.json", text);
	try {
		ClassifyImage(View(image), "mobilenet_v2_imagenet_float", bad);
		FAIL() << "garbage weights loaded";
	} catch (const Error &e) {
		EXPECT_EQ(e.Kind(), ErrorKind::Corrupt);
	}

	/* missing weights */
	ASSERT_EQ(unlink((bad_dir + "/mobilenet_v2_imagenet_float.pt").c_str()), 0);
	try {
		ClassifyImage(View(image), "mobilenet_v2_imagenet_float", bad);
		FAIL() << "missing weights not detected";
	} catch (const Error &e) {
		EXPECT_EQ(e.Kind(), ErrorKind::MissingFile);
	}
	/* the good model still works in the same process */
	EXPECT_EQ(ClassifyImage(View(image), "mobilenet_v2_imagenet_float", settings_).top_label, "macaw");
}

TEST_F(ModelDir, BatchAgreesWithSingleImagesAndIsolatesPoison) {
	const char *files[] = {"parrot.jpg", "cat.bmp", "hot_dog.jpg", "grace_hopper.bmp", "sunflower.bmp", "owl.jpg"};
	std::vector<std::vector<uint8_t>> bytes;
	for (const char *f : files) {
		bytes.push_back(ReadFile(ModelSource() + "/samples/" + f));
	}
	std::vector<uint8_t> truncated(bytes[0].begin(), bytes[0].begin() + bytes[0].size() / 2);
	const std::string html = "<!DOCTYPE html><html><body>gone</body></html>";
	std::vector<BatchItem> items;
	for (size_t i = 0; i < bytes.size(); i++) {
		items.push_back({static_cast<int64_t>(100 + i), View(bytes[i])});
	}
	items.insert(items.begin() + 2, BatchItem {7, View(truncated)});
	items.push_back({8, ByteView {reinterpret_cast<const uint8_t *>(html.data()), html.size()}});
	items.push_back({9, ByteView {}});

	for (const auto &[model, threads] : std::vector<std::pair<std::string, int>> {
	         {"mobilenet_v2_imagenet_float", 1}, {"mobilenet_v2_imagenet_float", 3}, {"mobilenet_v2_imagenet_quantized", 2}}) {
		const std::vector<BatchOutcome> out = ClassifyBatch(items, model, settings_, threads, [] { return false; });
		ASSERT_EQ(out.size(), items.size());
		for (size_t i = 0; i < items.size(); i++) {
			EXPECT_EQ(out[i].key, items[i].key) << "outcomes keep the input order";
		}
		size_t good = 0;
		for (size_t i = 0; i < items.size(); i++) {
			if (items[i].key >= 100) {
				ASSERT_TRUE(out[i].ok) << out[i].error;
				const Classification single = ClassifyImage(items[i].image, model, settings_);
				EXPECT_EQ(out[i].result.top_label, single.top_label) << model << " " << files[items[i].key - 100];
				EXPECT_NEAR(out[i].result.top_label_score, single.top_label_score, 1e-3);
				ASSERT_FALSE(out[i].result.ranked.empty());
				EXPECT_EQ(out[i].result.ranked[0].concept, single.ranked[0].concept);
				good++;
			} else {
				EXPECT_FALSE(out[i].ok) << "key " << items[i].key;
				EXPECT_EQ(out[i].error_kind, ErrorKind::InvalidData) << out[i].error;
				EXPECT_FALSE(out[i].error.empty());
			}
		}
		EXPECT_EQ(good, bytes.size());
	}
}

TEST_F(ModelDir, BatchOfOnlyBadImagesRunsNoForward) {
	const std::string html = "<html>";
	const std::vector<BatchItem> items = {{1, ByteView {reinterpret_cast<const uint8_t *>(html.data()), html.size()}}};
	const auto out = ClassifyBatch(items, "mobilenet_v2_imagenet_quantized", settings_, 2, [] { return false; });
	ASSERT_EQ(out.size(), 1u);
	EXPECT_FALSE(out[0].ok);
}

TEST_F(ModelDir, BatchStopsWhenAsked) {
	const auto bytes = ReadFile(ModelSource() + "/samples/parrot.jpg");
	const std::vector<BatchItem> items(8, BatchItem {1, View(bytes)});
	try {
		ClassifyBatch(items, "mobilenet_v2_imagenet_float", settings_, 1, [] { return true; });
		FAIL() << "a stop request was ignored";
	} catch (const Error &e) {
		EXPECT_EQ(e.Kind(), ErrorKind::Cancelled);
	}
}

TEST_F(ModelDir, BatchFetchesBytesInOrderWhileDecoding) {
	const char *files[] = {"parrot.jpg", "owl.jpg", "hot_dog.jpg", "cat.bmp"};
	std::vector<std::vector<uint8_t>> bytes;
	for (int r = 0; r < 3; r++) {
		for (const char *f : files) {
			bytes.push_back(ReadFile(ModelSource() + "/samples/" + f));
		}
	}
	std::vector<BatchItem> with_bytes, without;
	for (size_t i = 0; i < bytes.size(); i++) {
		with_bytes.push_back({static_cast<int64_t>(i), View(bytes[i])});
		without.push_back({static_cast<int64_t>(i), ByteView {}});
	}
	std::vector<size_t> calls;
	const FetchImage fetch = [&](size_t i) {
		calls.push_back(i);
		return View(bytes[i]);
	};
	const auto expected = ClassifyBatch(with_bytes, "mobilenet_v2_imagenet_float", settings_, 4, [] { return false; });
	const auto fetched = ClassifyBatch(without, "mobilenet_v2_imagenet_float", settings_, 4, [] { return false; }, fetch);
	ASSERT_EQ(calls.size(), bytes.size()) << "each item is fetched exactly once";
	for (size_t i = 0; i < calls.size(); i++) {
		EXPECT_EQ(calls[i], i) << "in index order";
	}
	ASSERT_EQ(fetched.size(), expected.size());
	for (size_t i = 0; i < fetched.size(); i++) {
		ASSERT_TRUE(fetched[i].ok) << fetched[i].error;
		EXPECT_EQ(fetched[i].result.top_label, expected[i].result.top_label);
		EXPECT_NEAR(fetched[i].result.top_label_score, expected[i].result.top_label_score, 1e-4);
	}

	/* a fetch that fails ends the call with its exception, the decode threads joined */
	const FetchImage failing = [&](size_t i) -> ByteView {
		if (i == 5) {
			throw std::runtime_error("the database said no");
		}
		return View(bytes[i]);
	};
	EXPECT_THROW(ClassifyBatch(without, "mobilenet_v2_imagenet_float", settings_, 4, [] { return false; }, failing),
	             std::runtime_error);
}

TEST_F(ModelDir, MissingDeviceIsUnavailableNotABadImage) {
	std::string why;
	if (DeviceAvailable("cuda:0", &why)) {
		GTEST_SKIP() << "this machine has a GPU";
	}
	const auto bytes = ReadFile(ModelSource() + "/samples/parrot.jpg");
	ClassifierSettings gpu = settings_;
	gpu.device = "cuda:0";
	try {
		ClassifyBatch({BatchItem {1, View(bytes)}}, "mobilenet_v2_imagenet_float", gpu, 1, [] { return false; });
		FAIL() << "a missing device was not reported";
	} catch (const Error &e) {
		EXPECT_EQ(e.Kind(), ErrorKind::Unavailable) << e.what();
		EXPECT_NE(std::string(e.what()).find("cuda:0"), std::string::npos) << e.what();
	}
	ClassifierSettings half = settings_;
	half.precision = "fp16";
	try {
		ClassifyBatch({BatchItem {1, View(bytes)}}, "mobilenet_v2_imagenet_float", half, 1, [] { return false; });
		FAIL() << "fp16 on the CPU was accepted";
	} catch (const Error &e) {
		EXPECT_EQ(e.Kind(), ErrorKind::InvalidInput) << e.what();
	}
}

TEST_F(ModelDir, AsyncBatchesMatchSynchronousOnesAndReportErrors) {
	const char *files[] = {"parrot.jpg", "owl.jpg", "hot_dog.jpg", "cat.bmp"};
	std::vector<std::vector<uint8_t>> bytes;
	for (const char *f : files) {
		bytes.push_back(ReadFile(ModelSource() + "/samples/" + f));
	}
	const std::string html = "<html>";
	std::vector<BatchItem> items;
	for (size_t i = 0; i < bytes.size(); i++) {
		items.push_back({static_cast<int64_t>(i), View(bytes[i])});
	}
	items.push_back({9, ByteView {reinterpret_cast<const uint8_t *>(html.data()), html.size()}});
	const auto expected = ClassifyBatch(items, "mobilenet_v2_imagenet_float", settings_, 2, [] { return false; });

	AsyncClassifier async;
	EXPECT_FALSE(async.Pending());
	EXPECT_THROW(async.Finish(), Error) << "nothing to finish";
	for (int round = 0; round < 3; round++) { /* one thread serves job after job */
		async.Start(items, "mobilenet_v2_imagenet_float", settings_, 2);
		EXPECT_TRUE(async.Pending());
		EXPECT_THROW(async.Start(items, "mobilenet_v2_imagenet_float", settings_, 2), Error) << "one job at a time";
		while (!async.WaitFor(10)) {
		}
		const auto out = async.Finish();
		EXPECT_FALSE(async.Pending());
		ASSERT_EQ(out.size(), expected.size());
		for (size_t i = 0; i < out.size(); i++) {
			EXPECT_EQ(out[i].key, expected[i].key);
			EXPECT_EQ(out[i].ok, expected[i].ok);
			EXPECT_EQ(out[i].result.top_label, expected[i].result.top_label);
		}
		EXPECT_FALSE(out.back().ok) << "a bad image is an outcome, not a failed job";
	}

	/* a job's error reaches Finish; the thread goes on serving */
	async.Start(items, "no_such_model", settings_, 2);
	try {
		async.Finish();
		FAIL() << "a missing model was not reported";
	} catch (const Error &e) {
		EXPECT_EQ(e.Kind(), ErrorKind::NotFound) << e.what();
	}
	async.Start(items, "mobilenet_v2_imagenet_float", settings_, 1);
	EXPECT_EQ(async.Finish().size(), items.size());

	/* abandoning stops a long job at its next item */
	std::vector<BatchItem> many(400, items[0]);
	async.Start(many, "mobilenet_v2_imagenet_float", settings_, 1);
	EXPECT_TRUE(async.AbandonFor(30000));
	EXPECT_FALSE(async.Pending());
	async.Abandon(); /* nothing pending: a no-op */
}

/* A network (frozen and optimised like every model) whose forward pass fails inside the
 * TorchScript interpreter when it gets more than one row: it asks the allocator for 256 TB.
 * The failure must come out as the op's own error, not as the interpreter's std::runtime_error
 * with a traceback: a CUDA out-of-memory has to stay an OutOfMemoryError for the forward pass
 * to be split, and any other failure an error the batch can be isolated on. */
/* Saves a TorchScript network with `forward_source` as model `name` (3 native labels, 32x32
 * input, frozen and optimised when loaded) in `dir`. */
void
SaveScriptModel(const std::string &dir, const std::string &name, const std::string &forward_source) {
	torch::jit::Module net(name);
	net.define(forward_source);
	const std::string weights = dir + "/" + name + ".pt";
	net.save(weights);
	testing::WriteFile(dir + "/" + name + ".model.json",
	                   R"({"name": ")" + name + R"(", "version": "1", "kind": "native", "file": ")" + name +
	                       R"(.pt", "sha256": ")" + Sha256FileHex(weights) +
	                       R"(", "optimize": true, "input": {"resize": 32, "crop": 32}, "labels": ["building", "map", "toy"]})");
}

TEST_F(ModelDir, ForwardErrorsInsideTorchScriptKeepTheirType) {
	SaveScriptModel(dir_.Path(), "single_rows", R"(
def forward(self, x):
    n = x.size(0)
    if n > 1:
        y = torch.empty([281474976710656], dtype=0)
        return torch.zeros([n, 3]) + float(y.size(0) - 281474976710656)
    return torch.zeros([n, 3]) + x.mean()
)");
	const char *files[] = {"parrot.jpg", "owl.jpg", "hot_dog.jpg"};
	std::vector<std::vector<uint8_t>> bytes;
	std::vector<BatchItem> items;
	for (const char *f : files) {
		bytes.push_back(ReadFile(ModelSource() + "/samples/" + f));
	}
	for (size_t i = 0; i < bytes.size(); i++) {
		items.push_back({static_cast<int64_t>(i), View(bytes[i])});
	}
	const int64_t splits_before = LastBatchDecodeStats().oom_forward_splits;
	try {
		/* an out-of-memory error (LibTorch 2.x's CPU allocator) is split down to single
		 * rows; an allocator that throws a plain error fails the batch with it */
		const auto out = ClassifyBatch(items, "single_rows", settings_, 1, [] { return false; });
		ASSERT_EQ(out.size(), items.size());
		for (const auto &o : out) {
			EXPECT_TRUE(o.ok) << o.error;
		}
		EXPECT_GT(LastBatchDecodeStats().oom_forward_splits, splits_before) << "the batch succeeded without a split";
	} catch (const Error &e) {
		EXPECT_EQ(e.Kind(), ErrorKind::Internal) << e.what();
		EXPECT_NE(std::string(e.what()).find("281474976710656"), std::string::npos) << "the op's message: " << e.what();
		EXPECT_EQ(std::string(e.what()).find("TorchScript interpreter"), std::string::npos) << e.what();
	} catch (const std::exception &e) {
		FAIL() << "the forward pass's error lost its type: " << typeid(e).name() << ": " << e.what();
	}
	/* and a failed batch is isolated image by image: every single image succeeds */
	try {
		const auto each = ClassifyBatchOrEach(items, "single_rows", settings_, 1, [] { return false; });
		ASSERT_EQ(each.size(), items.size());
		for (size_t i = 0; i < each.size(); i++) {
			EXPECT_EQ(each[i].key, items[i].key);
			EXPECT_TRUE(each[i].ok) << each[i].error;
			EXPECT_EQ(each[i].result.ranked.size(), 3u);
		}
	} catch (const std::exception &e) {
		FAIL() << "the batch was not isolated: " << typeid(e).name() << ": " << e.what();
	}
}

/* A network that raises an exception of its own (a failed assert: torch::jit::JITException,
 * no c10::Error): an error of the model, not of the images. */
TEST_F(ModelDir, ScriptRaisingIsAnInternalError) {
	SaveScriptModel(dir_.Path(), "raises", R"(
def forward(self, x):
    assert x.size(0) < 2, "refuses batches"
    return torch.zeros([x.size(0), 3]) + x.mean()
)");
	const auto a = ReadFile(ModelSource() + "/samples/parrot.jpg");
	const auto b = ReadFile(ModelSource() + "/samples/owl.jpg");
	const std::vector<BatchItem> items = {{1, View(a)}, {2, View(b)}};
	try {
		ClassifyBatch(items, "raises", settings_, 1, [] { return false; });
		FAIL() << "the network's exception was not reported";
	} catch (const Error &e) {
		EXPECT_EQ(e.Kind(), ErrorKind::Internal) << e.what();
		EXPECT_NE(std::string(e.what()).find("refuses batches"), std::string::npos) << e.what();
	} catch (const std::exception &e) {
		FAIL() << "the network's exception lost its kind: " << typeid(e).name() << ": " << e.what();
	}
	const auto each = ClassifyBatchOrEach(items, "raises", settings_, 1, [] { return false; });
	ASSERT_EQ(each.size(), 2u);
	EXPECT_TRUE(each[0].ok) << each[0].error;
	EXPECT_TRUE(each[1].ok) << each[1].error;
}

TEST(Devices, CpuIsAlwaysAvailableAndBadNamesAreNot) {
	std::string why;
	EXPECT_TRUE(DeviceAvailable("cpu", &why));
	EXPECT_FALSE(DeviceAvailable("tpu:0", &why));
	EXPECT_NE(why.find("unknown device"), std::string::npos) << why;
}

} // namespace
} // namespace europeana::core
