/*
 * model_spec_test.cpp — metadata parsing and cross-checks, and the shipped metadata.
 */
#include "core/classify/model_spec.hpp"
#include "core/common/error.hpp"
#include "test_support.hpp"

namespace europeana::core {
namespace {

using testing::TempDir;
using testing::WriteFile;

const char *kNativeMeta = R"({"name": "tiny", "version": "2", "kind": "native", "file": "tiny.pt",
  "sha256": "0000000000000000000000000000000000000000000000000000000000000000",
  "input": {"resize": 0, "crop": [32, 48], "channels": "BGR", "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]},
  "labels": {"0": "building", "1": "map", "2": "toy"}})";

ErrorKind
KindOf(const std::string &dir, const std::string &name) {
	try {
		LoadModelSpec(dir, name);
	} catch (const Error &e) {
		return e.Kind();
	}
	ADD_FAILURE() << "expected an error for " << name;
	return ErrorKind::Internal;
}

TEST(ModelSpec, NativeModelWithClassIndexLabels) {
	TempDir dir;
	WriteFile(dir.Path() + "/tiny.model.json", kNativeMeta);
	const ModelSpec s = LoadModelSpec(dir.Path(), "tiny");
	EXPECT_EQ(s.kind, ModelKind::Native);
	EXPECT_EQ(s.version, "2");
	ASSERT_EQ(s.labels.size(), 3u);
	EXPECT_EQ(s.labels[1], "map");
	EXPECT_EQ(s.concepts, s.labels);
	EXPECT_EQ(s.label_concept[2], 2);
	EXPECT_EQ(s.input.resize_shorter, 0);
	EXPECT_EQ(s.input.crop_height, 32);
	EXPECT_EQ(s.input.crop_width, 48);
	EXPECT_FALSE(s.input.rgb);
	EXPECT_EQ(ListModelNames(dir.Path()), std::vector<std::string> {"tiny"});
}

TEST(ModelSpec, ShippedImagenetMetadataAndMappingAgree) {
	/* the labels file is external data; the mapping and metadata are ours */
	TempDir dir;
	const std::string cp = "cp '" + testing::RepoModels() + "'/*.model.json '" + testing::RepoModels() +
	                       "'/*.tsv '" + testing::ModelSource() + "/imagenet_classes.txt' '" + dir.Path() + "'";
	ASSERT_EQ(std::system(cp.c_str()), 0) << cp;
	for (const char *name : {"mobilenet_v2_imagenet_float", "mobilenet_v2_imagenet_quantized"}) {
		const ModelSpec s = LoadModelSpec(dir.Path(), name);
		EXPECT_EQ(s.kind, ModelKind::Mapped);
		ASSERT_EQ(s.labels.size(), 1000u);
		EXPECT_EQ(s.labels[88], "macaw");
		int mapped = 0;
		for (int c : s.label_concept) {
			mapped += c >= 0;
		}
		EXPECT_GT(mapped, 100);
		EXPECT_NE(std::find(s.concepts.begin(), s.concepts.end(), "clothing"), s.concepts.end());
		EXPECT_NE(std::find(s.concepts.begin(), s.concepts.end(), "costume_accessories"), s.concepts.end());
		/* the quantized file was exported for batch 1; feeding it more crashes QNNPACK */
		EXPECT_EQ(s.max_batch, std::string(name) == "mobilenet_v2_imagenet_quantized" ? 1 : 0) << name;
	}
}

TEST(ModelSpec, BadMetadataIsReportedAsCorrupt) {
	TempDir dir;
	WriteFile(dir.Path() + "/broken.model.json", "{ not json");
	EXPECT_EQ(KindOf(dir.Path(), "broken"), ErrorKind::Corrupt);

	WriteFile(dir.Path() + "/nokind.model.json", R"({"version": "1", "file": "x.pt", "labels": ["a"],
	  "sha256": "0000000000000000000000000000000000000000000000000000000000000000"})");
	EXPECT_EQ(KindOf(dir.Path(), "nokind"), ErrorKind::Corrupt);

	WriteFile(dir.Path() + "/gap.model.json", R"({"version": "1", "kind": "native", "file": "x.pt",
	  "sha256": "0000000000000000000000000000000000000000000000000000000000000000", "labels": {"0": "a", "2": "b"}})");
	EXPECT_EQ(KindOf(dir.Path(), "gap"), ErrorKind::Corrupt);

	WriteFile(dir.Path() + "/negbatch.model.json", R"({"version": "1", "kind": "native", "file": "x.pt", "max_batch": -2,
	  "sha256": "0000000000000000000000000000000000000000000000000000000000000000", "labels": ["a"]})");
	EXPECT_EQ(KindOf(dir.Path(), "negbatch"), ErrorKind::Corrupt);

	/* a mapping whose label disagrees with the label list is refused */
	WriteFile(dir.Path() + "/labels.txt", "tench, Tinca tinca\ngoldfish, Carassius auratus\n");
	WriteFile(dir.Path() + "/map.tsv", "index\tlabel\tconcept\n1\ttench\tspecimen\n");
	WriteFile(dir.Path() + "/mapped.model.json", R"({"version": "1", "kind": "mapped", "file": "x.pt",
	  "sha256": "0000000000000000000000000000000000000000000000000000000000000000",
	  "labels": {"file": "labels.txt"}, "concept_map": {"file": "map.tsv"}})");
	EXPECT_EQ(KindOf(dir.Path(), "mapped"), ErrorKind::Corrupt);
	WriteFile(dir.Path() + "/map.tsv", "index\tlabel\tconcept\n1\tgoldfish\tspecimen\n");
	const ModelSpec ok = LoadModelSpec(dir.Path(), "mapped");
	EXPECT_EQ(ok.label_concept, (std::vector<int> {-1, 0}));

	/* a label file that is not the one the metadata was written for */
	WriteFile(dir.Path() + "/pinned.model.json", R"({"version": "1", "kind": "mapped", "file": "x.pt",
	  "sha256": "0000000000000000000000000000000000000000000000000000000000000000",
	  "labels": {"file": "labels.txt", "sha256": "1111111111111111111111111111111111111111111111111111111111111111"},
	  "concept_map": {"file": "map.tsv"}})");
	EXPECT_EQ(KindOf(dir.Path(), "pinned"), ErrorKind::Corrupt);
	WriteFile(dir.Path() + "/escape.model.json", R"({"version": "1", "kind": "mapped", "file": "x.pt",
	  "sha256": "0000000000000000000000000000000000000000000000000000000000000000",
	  "labels": {"file": "../labels.txt"}, "concept_map": {"file": "map.tsv"}})");
	EXPECT_EQ(KindOf(dir.Path(), "escape"), ErrorKind::Corrupt);
}

TEST(ModelSpec, UnknownAndInvalidNames) {
	TempDir dir;
	WriteFile(dir.Path() + "/tiny.model.json", kNativeMeta);
	EXPECT_EQ(KindOf(dir.Path(), "nope"), ErrorKind::NotFound);
	try {
		LoadModelSpec(dir.Path(), "nope");
	} catch (const Error &e) {
		EXPECT_NE(e.Hint().find("tiny"), std::string::npos) << "the hint lists available models";
	}
	EXPECT_EQ(KindOf(dir.Path(), "../etc/passwd"), ErrorKind::InvalidInput);
	EXPECT_EQ(KindOf(dir.Path(), ""), ErrorKind::InvalidInput);
	EXPECT_EQ(KindOf(dir.Path(), ".hidden"), ErrorKind::InvalidInput);
	EXPECT_EQ(KindOf("/nonexistent-dir", "tiny"), ErrorKind::NotFound);
}

} // namespace
} // namespace europeana::core
