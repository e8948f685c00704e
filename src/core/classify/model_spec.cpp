/*
 * model_spec.cpp — parse and cross-check model metadata (nlohmann::json).
 */
#include "core/classify/model_spec.hpp"

#include "core/common/error.hpp"
#include "core/common/sha256.hpp"
#include "core/common/strings.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <dirent.h>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>

namespace europeana::core {

namespace {

using Json = nlohmann::json;

constexpr char kModelSuffix[] = ".model.json";

/* The hint for a file that a model's metadata names but the model directory lacks. */
std::string
MissingModelFileHint(const ModelSpec &spec) {
	return "The metadata of model \"" + spec.name + "\" names this file; it must be in europeana.model_dir beside " +
	       spec.name + ".model.json (provision the model files again).";
}

std::string
ReadTextFile(const std::string &path, ErrorKind missing_kind, const std::string &hint) {
	std::ifstream in(path, std::ios::binary);
	if (!in) {
		throw Error(missing_kind, "could not open \"" + path + "\"", hint);
	}
	std::ostringstream ss;
	ss << in.rdbuf();
	return ss.str();
}

/* The short name of an ImageNet-style label line: "tench, Tinca tinca" → "tench". */
std::string
ShortLabel(const std::string &label) {
	return Trim(label.substr(0, label.find(',')));
}

[[noreturn]] void
Bad(const ModelSpec &spec, const std::string &what) {
	throw Error(ErrorKind::Corrupt, "model \"" + spec.name + "\" has invalid metadata: " + what,
	            "Check " + spec.metadata_path + " against models/README.md.");
}

std::vector<std::string>
LabelsFromJson(const ModelSpec &spec, const Json &j) {
	std::vector<std::string> labels;
	if (j.is_array()) {
		for (const auto &v : j) {
			if (!v.is_string()) {
				Bad(spec, "labels must be strings");
			}
			labels.push_back(v.get<std::string>());
		}
		return labels;
	}
	if (j.is_object()) {
		/* class_index.json shape: {"0": "archaeological_site", "1": ...} */
		std::map<long, std::string> by_index;
		for (const auto &[k, v] : j.items()) {
			char *end = nullptr;
			const long idx = std::strtol(k.c_str(), &end, 10);
			if (k.empty() || *end != '\0' || idx < 0 || !v.is_string()) {
				Bad(spec, "class index keys must be integers and values strings");
			}
			by_index[idx] = v.get<std::string>();
		}
		long expect = 0;
		for (const auto &[idx, v] : by_index) {
			if (idx != expect++) {
				Bad(spec, "class index has a gap at " + std::to_string(expect - 1));
			}
			labels.push_back(v);
		}
		return labels;
	}
	Bad(spec, "labels must be an array or a class-index object");
}

std::vector<std::string>
LabelsFromFile(const ModelSpec &spec, const std::string &dir, const std::string &file) {
	const std::string path = dir + "/" + file;
	const std::string text = ReadTextFile(path, ErrorKind::MissingFile, MissingModelFileHint(spec));
	if (file.size() > 5 && file.compare(file.size() - 5, 5, ".json") == 0) {
		Json j;
		try {
			j = Json::parse(text);
		} catch (const Json::exception &e) {
			Bad(spec, "labels file " + file + " is not JSON: " + e.what());
		}
		return LabelsFromJson(spec, j);
	}
	std::vector<std::string> labels;
	std::istringstream in(text);
	std::string line;
	while (std::getline(in, line)) {
		line = Trim(line);
		if (!line.empty()) {
			labels.push_back(line);
		}
	}
	return labels;
}

/* Reads a TSV mapping "index<TAB>label<TAB>concept[<TAB>note]" with a header line and
 * checks that each label agrees with the model's label list. */
void
ApplyConceptMap(ModelSpec &spec, const std::string &dir, const std::string &file) {
	const std::string text = ReadTextFile(dir + "/" + file, ErrorKind::MissingFile, MissingModelFileHint(spec));
	std::istringstream in(text);
	std::string line;
	std::map<std::string, int> concept_index;
	spec.label_concept.assign(spec.labels.size(), -1);
	bool header = true;
	int line_no = 0;
	while (std::getline(in, line)) {
		line_no++;
		if (!line.empty() && line.back() == '\r') {
			line.pop_back();
		}
		if (Trim(line).empty() || line[0] == '#') {
			continue;
		}
		if (header) {
			header = false;
			continue;
		}
		std::vector<std::string> cols;
		std::stringstream ls(line);
		std::string col;
		while (std::getline(ls, col, '\t')) {
			cols.push_back(Trim(col));
		}
		if (cols.size() < 3) {
			Bad(spec, file + ":" + std::to_string(line_no) + ": expected index, label and concept");
		}
		char *end = nullptr;
		const long idx = std::strtol(cols[0].c_str(), &end, 10);
		if (cols[0].empty() || *end != '\0' || idx < 0 || static_cast<size_t>(idx) >= spec.labels.size()) {
			Bad(spec, file + ":" + std::to_string(line_no) + ": label index out of range");
		}
		if (ShortLabel(spec.labels[idx]) != cols[1]) {
			Bad(spec, file + ":" + std::to_string(line_no) + ": label \"" + cols[1] + "\" does not match output " +
			              std::to_string(idx) + " (\"" + spec.labels[idx] + "\")");
		}
		if (spec.label_concept[idx] != -1) {
			Bad(spec, file + ":" + std::to_string(line_no) + ": label mapped twice");
		}
		auto it = concept_index.find(cols[2]);
		if (it == concept_index.end()) {
			it = concept_index.emplace(cols[2], static_cast<int>(spec.concepts.size())).first;
			spec.concepts.push_back(cols[2]);
		}
		spec.label_concept[idx] = it->second;
	}
}

float
Float(const ModelSpec &spec, const Json &j, const char *what) {
	if (!j.is_number()) {
		Bad(spec, std::string(what) + " must be a number");
	}
	return j.get<float>();
}

void
ParseInput(ModelSpec &spec, const Json &in) {
	if (!in.is_object()) {
		Bad(spec, "\"input\" must be an object");
	}
	InputSpec &s = spec.input;
	if (in.contains("resize")) {
		s.resize_shorter = static_cast<int>(Float(spec, in["resize"], "input.resize"));
	}
	if (in.contains("crop")) {
		const Json &c = in["crop"];
		if (c.is_array() && c.size() == 2) {
			s.crop_height = static_cast<int>(Float(spec, c[0], "input.crop[0]"));
			s.crop_width = static_cast<int>(Float(spec, c[1], "input.crop[1]"));
		} else {
			s.crop_width = s.crop_height = static_cast<int>(Float(spec, c, "input.crop"));
		}
	}
	for (const char *key : {"mean", "std"}) {
		if (!in.contains(key)) {
			continue;
		}
		const Json &a = in[key];
		if (!a.is_array() || a.size() != 3) {
			Bad(spec, std::string("input.") + key + " must have three numbers");
		}
		auto &dst = std::string(key) == "mean" ? s.mean : s.std;
		for (int i = 0; i < 3; i++) {
			dst[i] = Float(spec, a[i], key);
		}
	}
	if (in.contains("channels")) {
		const std::string ch = in["channels"].get<std::string>();
		if (ch != "RGB" && ch != "BGR") {
			Bad(spec, "input.channels must be \"RGB\" or \"BGR\"");
		}
		s.rgb = ch == "RGB";
	}
	if (s.crop_width < 8 || s.crop_height < 8 || s.crop_width > 4096 || s.crop_height > 4096 ||
	    s.resize_shorter < 0 || s.resize_shorter > 8192) {
		Bad(spec, "input sizes are out of range");
	}
	for (float v : s.std) {
		if (!(v > 0.0f)) {
			Bad(spec, "input.std must be positive");
		}
	}
}

} // namespace

bool
IsValidModelName(const std::string &name) noexcept {
	if (name.empty() || name.size() > 128 || name[0] == '.') {
		return false;
	}
	return std::all_of(name.begin(), name.end(), [](char c) {
		return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
		       c == '.';
	});
}

ModelSpec
LoadModelSpec(const std::string &model_dir, const std::string &name) {
	if (!IsValidModelName(name)) {
		throw Error(ErrorKind::InvalidInput, "invalid model name \"" + name + "\"",
		            "Model names consist of letters, digits, '_', '-' and '.'.");
	}
	ModelSpec spec;
	spec.name = name;
	spec.metadata_path = model_dir + "/" + name + kModelSuffix;
	std::ifstream probe(spec.metadata_path);
	if (!probe) {
		std::string available;
		try {
			for (const auto &n : ListModelNames(model_dir)) {
				available += (available.empty() ? "" : ", ") + n;
			}
		} catch (const Error &) {
		}
		throw Error(ErrorKind::NotFound, "model \"" + name + "\" does not exist",
		            available.empty() ? "No models are installed in " + model_dir +
		                                    "; run \"make models\" or set europeana.model_dir."
		                              : "Available models: " + available + ".");
	}
	spec.metadata_json = ReadTextFile(spec.metadata_path, ErrorKind::NotFound,
	                                  "The metadata file exists but cannot be read by the server's user; check its "
	                                  "permissions in europeana.model_dir.");
	Json j;
	try {
		j = Json::parse(spec.metadata_json);
	} catch (const Json::exception &e) {
		Bad(spec, std::string("not valid JSON: ") + e.what());
	}
	if (!j.is_object()) {
		Bad(spec, "top level must be an object");
	}
	try {
		if (j.contains("name") && j["name"].get<std::string>() != name) {
			Bad(spec, "\"name\" does not match the file name");
		}
		spec.version = j.value("version", "");
		spec.description = j.value("description", "");
		if (spec.version.empty()) {
			Bad(spec, "\"version\" is required");
		}
		const std::string kind = j.value("kind", "");
		if (kind == "native") {
			spec.kind = ModelKind::Native;
		} else if (kind == "mapped") {
			spec.kind = ModelKind::Mapped;
		} else {
			Bad(spec, "\"kind\" must be \"native\" or \"mapped\"");
		}
		const std::string file = j.value("file", "");
		if (file.empty() || file.find('/') != std::string::npos) {
			Bad(spec, "\"file\" must name a file in the model directory");
		}
		spec.weights_path = model_dir + "/" + file;
		spec.sha256 = j.value("sha256", "");
		if (spec.sha256.size() != 64) {
			Bad(spec, "\"sha256\" must be 64 hex digits");
		}
		spec.quantized = j.value("quantized", false);
		spec.optimize = j.value("optimize", true);
		spec.max_batch = j.value("max_batch", 0);
		if (spec.max_batch < 0) {
			Bad(spec, "\"max_batch\" must be 0 (any) or a positive number");
		}
		if (j.contains("input")) {
			ParseInput(spec, j["input"]);
		}
		const std::string output = j.value("output", "logits");
		if (output == "logits") {
			spec.output = OutputKind::Logits;
		} else if (output == "probabilities") {
			spec.output = OutputKind::Probabilities;
		} else if (output == "log_probabilities") {
			spec.output = OutputKind::LogProbabilities;
		} else {
			Bad(spec, "\"output\" must be logits, probabilities or log_probabilities");
		}

		if (!j.contains("labels")) {
			Bad(spec, "\"labels\" is required");
		}
		const Json &labels = j["labels"];
		if (labels.is_object() && labels.contains("file")) {
			const std::string labels_file = labels["file"].get<std::string>();
			if (labels_file.empty() || labels_file.find('/') != std::string::npos) {
				Bad(spec, "labels.file must name a file in the model directory");
			}
			const std::string expected = labels.value("sha256", "");
			if (!expected.empty()) {
				const std::string actual = Sha256FileHex(model_dir + "/" + labels_file);
				if (actual != expected) {
					throw Error(ErrorKind::Corrupt,
					            "label file " + labels_file + " of model \"" + name + "\" has sha256 " + actual + ", expected " +
					                expected,
					            "The label list does not belong to this model; provision the model files again.");
				}
			}
			spec.labels = LabelsFromFile(spec, model_dir, labels_file);
		} else {
			spec.labels = LabelsFromJson(spec, labels);
		}
		if (spec.labels.empty()) {
			Bad(spec, "the model has no labels");
		}

		if (spec.kind == ModelKind::Native) {
			/* Outputs are concepts, in class-index order. */
			spec.concepts = spec.labels;
			spec.label_concept.resize(spec.labels.size());
			for (size_t i = 0; i < spec.labels.size(); i++) {
				spec.label_concept[i] = static_cast<int>(i);
			}
		} else {
			if (!j.contains("concept_map") || !j["concept_map"].contains("file")) {
				Bad(spec, "a mapped model needs \"concept_map\": {\"file\": ...}");
			}
			const std::string map_file = j["concept_map"]["file"].get<std::string>();
			if (map_file.empty() || map_file.find('/') != std::string::npos) {
				Bad(spec, "concept_map.file must name a file in the model directory");
			}
			ApplyConceptMap(spec, model_dir, map_file);
		}
	} catch (const Json::exception &e) {
		Bad(spec, e.what());
	}
	return spec;
}

std::vector<std::string>
ListModelNames(const std::string &model_dir) {
	std::unique_ptr<DIR, int (*)(DIR *)> dir(opendir(model_dir.c_str()), closedir);
	if (!dir) {
		throw Error(ErrorKind::NotFound, "could not open model directory \"" + model_dir + "\"",
		            "Run \"make models\" or set europeana.model_dir.");
	}
	std::vector<std::string> names;
	while (const dirent *e = readdir(dir.get())) {
		const std::string f = e->d_name;
		const size_t sl = sizeof(kModelSuffix) - 1;
		if (f.size() > sl && f.compare(f.size() - sl, sl, kModelSuffix) == 0) {
			const std::string n = f.substr(0, f.size() - sl);
			if (IsValidModelName(n)) {
				names.push_back(n);
			}
		}
	}
	std::sort(names.begin(), names.end());
	return names;
}

} // namespace europeana::core
