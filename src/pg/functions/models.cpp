/*
 * models.cpp — SQL functions that describe and verify installed models.
 *
 *   europeana.available_models()        → SETOF record   (metadata of every model)
 *   europeana.model_labels(model text)  → SETOF record   (outputs and their concepts)
 *   europeana.verify_model(model text)  → jsonb          (checksum verified metadata)
 *
 * These read metadata files only; LibTorch is not involved.  Main thread only.
 */
#include "core/classify/classifier.hpp"
#include "core/classify/model_spec.hpp"
#include "pg/boundary.hpp"
#include "pg/guc.hpp"
#include "pg/version_check.hpp"

#include <vector>

extern "C" {
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/tuplestore.h"
}

namespace {

struct ModelRow {
	char *name;
	char *version;
	char *kind;
	char *description;
	char *file;
	char *sha256;
	bool quantized;
	int32 input_width;
	int32 input_height;
	int32 label_count;
	int32 concept_count;
	char **concepts;
	char *error; /* metadata could not be read */
};

char *
ModelDir() {
	europeana::pg::CheckExtensionVersion();
	return pstrdup(europeana::pg::guc_model_dir ? europeana::pg::guc_model_dir : "");
}

ArrayType *
TextArray(char **items, int n) {
	Datum *elems = static_cast<Datum *>(palloc(sizeof(Datum) * (n > 0 ? n : 1)));
	for (int i = 0; i < n; i++) {
		elems[i] = CStringGetTextDatum(items[i]);
	}
	return construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT);
}

char *
Basename(const std::string &path) {
	const auto slash = path.rfind('/');
	return europeana::pg::PStrdupNoOom(slash == std::string::npos ? path : path.substr(slash + 1));
}

} // namespace

/* Runs on the main thread; lists every model of europeana.model_dir. */
EUROPEANA_PG_FUNCTION(europeana_available_models) {
	char *dir = ModelDir();
	InitMaterializedSRF(fcinfo, 0);
	ReturnSetInfo *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);

	ModelRow *rows = nullptr;
	int count = 0;
	{
		const std::vector<std::string> names = europeana::core::ListModelNames(dir);
		rows = static_cast<ModelRow *>(europeana::pg::PallocNoOom(sizeof(ModelRow) * (names.size() + 1)));
		for (const std::string &name : names) {
			ModelRow &r = rows[count++];
			r = ModelRow {};
			r.name = europeana::pg::PStrdupNoOom(name);
			try {
				const europeana::core::ModelSpec s = europeana::core::LoadModelSpec(dir, name);
				r.version = europeana::pg::PStrdupNoOom(s.version);
				r.kind = europeana::pg::PStrdupNoOom(s.kind == europeana::core::ModelKind::Native ? "native" : "mapped");
				r.description = europeana::pg::PStrdupNoOom(s.description);
				r.file = Basename(s.weights_path);
				r.sha256 = europeana::pg::PStrdupNoOom(s.sha256);
				r.quantized = s.quantized;
				r.input_width = s.input.crop_width;
				r.input_height = s.input.crop_height;
				r.label_count = static_cast<int32>(s.labels.size());
				r.concept_count = static_cast<int32>(s.concepts.size());
				r.concepts = static_cast<char **>(europeana::pg::PallocNoOom(sizeof(char *) * (s.concepts.size() + 1)));
				for (size_t i = 0; i < s.concepts.size(); i++) {
					r.concepts[i] = europeana::pg::PStrdupNoOom(s.concepts[i]);
				}
			} catch (const europeana::Error &e) {
				r.error = europeana::pg::PStrdupNoOom(e.what());
			}
		}
	}

	for (int i = 0; i < count; i++) {
		const ModelRow &r = rows[i];
		Datum values[12];
		bool nulls[12] = {false};
		values[0] = CStringGetTextDatum(r.name);
		if (r.error) {
			for (int c = 1; c < 11; c++) {
				nulls[c] = true;
			}
			values[11] = CStringGetTextDatum(r.error);
		} else {
			values[1] = CStringGetTextDatum(r.version);
			values[2] = CStringGetTextDatum(r.kind);
			values[3] = CStringGetTextDatum(r.description);
			values[4] = CStringGetTextDatum(r.file);
			values[5] = CStringGetTextDatum(r.sha256);
			values[6] = BoolGetDatum(r.quantized);
			values[7] = Int32GetDatum(r.input_width);
			values[8] = Int32GetDatum(r.input_height);
			values[9] = Int32GetDatum(r.label_count);
			values[10] = PointerGetDatum(TextArray(r.concepts, r.concept_count));
			nulls[11] = true;
		}
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return static_cast<Datum>(0);
}

/* Runs on the main thread; one row per network output with the concept it maps to. */
EUROPEANA_PG_FUNCTION(europeana_model_labels) {
	char *dir = ModelDir();
	char *name = europeana::pg::ModelArgOrDefault(fcinfo, 0);
	InitMaterializedSRF(fcinfo, 0);
	ReturnSetInfo *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);

	int count = 0;
	char **labels = nullptr;
	char **concepts = nullptr;
	{
		const europeana::core::ModelSpec s = europeana::core::LoadModelSpec(dir, name);
		count = static_cast<int>(s.labels.size());
		labels = static_cast<char **>(europeana::pg::PallocNoOom(sizeof(char *) * (count + 1)));
		concepts = static_cast<char **>(europeana::pg::PallocNoOom(sizeof(char *) * (count + 1)));
		for (int i = 0; i < count; i++) {
			labels[i] = europeana::pg::PStrdupNoOom(s.labels[i]);
			const int c = s.label_concept[i];
			concepts[i] = c >= 0 ? europeana::pg::PStrdupNoOom(s.concepts[c]) : nullptr;
		}
	}

	for (int i = 0; i < count; i++) {
		Datum values[3];
		bool nulls[3] = {false};
		values[0] = Int32GetDatum(i);
		values[1] = CStringGetTextDatum(labels[i]);
		if (concepts[i]) {
			values[2] = CStringGetTextDatum(concepts[i]);
		} else {
			nulls[2] = true;
		}
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return static_cast<Datum>(0);
}

/* Runs on the main thread; hashes the weights (tens of ms) and returns the metadata. */
EUROPEANA_PG_FUNCTION(europeana_verify_model) {
	char *dir = ModelDir();
	char *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char *json = nullptr;
	{
		const europeana::core::ModelSpec s = europeana::core::VerifyModel(dir, name);
		json = europeana::pg::PStrdupNoOom(s.metadata_json);
	}
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(json)));
}
