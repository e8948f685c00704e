/*
 * model_spec.hpp — a model's metadata: what file, what input, what outputs mean.
 *
 * A model lives in the model directory as `<name>.model.json` (metadata) next to its
 * TorchScript weights.  The metadata names the weights file and its sha256, the
 * preprocessing, the output labels, and how labels map to vocabulary concepts:
 *  - kind "native": the outputs are concepts themselves (a fine-tuned vocabulary model,
 *    labels in class-index order, e.g. the pilot's class_index.json);
 *  - kind "mapped": the outputs are another label set (ImageNet) and a reviewed mapping
 *    turns label probabilities into concept scores; unmapped mass is "none of the
 *    vocabulary".
 * Parsing never touches PostgreSQL; errors are europeana::Error.
 */
#pragma once

#include "core/common/no_postgres.hpp"
#include "core/decode/input_spec.hpp"

#include <string>
#include <vector>

namespace europeana::core {

enum class ModelKind { Native, Mapped };
enum class OutputKind { Logits, Probabilities, LogProbabilities };

struct ModelSpec {
	std::string name;
	std::string version;
	std::string description;
	ModelKind kind = ModelKind::Mapped;
	std::string metadata_path;
	std::string weights_path;
	std::string sha256; /* expected sha256 of the weights, lower-case hex */
	bool quantized = false;
	bool optimize = true; /* freeze + optimize_for_inference on CPU float models */
	int max_batch = 0;    /* largest batch the exported graph accepts; 0 = any (some files hard-code 1) */
	InputSpec input;
	OutputKind output = OutputKind::Logits;
	std::vector<std::string> labels;   /* network outputs, in output order */
	std::vector<std::string> concepts; /* concept names this model can answer */
	std::vector<int> label_concept;    /* per label: index into concepts, or -1 */
	std::string metadata_json;         /* the metadata file as read */
};

/* IsValidModelName accepts [A-Za-z0-9_.-]{1,128} without a leading dot. */
bool IsValidModelName(const std::string &name) noexcept;

/* LoadModelSpec reads `<dir>/<name>.model.json` and the label and mapping files it names.
 * NotFound for an unknown model, Corrupt for unreadable or inconsistent metadata,
 * InvalidInput for a malformed name. */
ModelSpec LoadModelSpec(const std::string &model_dir, const std::string &name);

/* ListModelNames returns the names of all `*.model.json` metadata files in `dir`, sorted. */
std::vector<std::string> ListModelNames(const std::string &model_dir);

} // namespace europeana::core
