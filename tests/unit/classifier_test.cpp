/*
 * classifier_test.cpp — end-to-end inference on the real ImageNet MobileNetV2 files
 * (external data: $EUROPEANA_MODEL_SOURCE, default ../shared/models).
 */
#include "core/classify/classifier.hpp"
#include "core/common/error.hpp"
#include "core/common/sha256.hpp"
#include "test_support.hpp"

#include <sys/stat.h>

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

} // namespace
} // namespace europeana::core
