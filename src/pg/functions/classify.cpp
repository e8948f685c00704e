/*
 * classify.cpp — SQL functions that classify and inspect image bytes.
 *
 *   europeana._classify(image bytea, k integer, model text) → SETOF record
 *       ranked concepts of one image; europeana.classify_image and
 *       europeana.classify_image_topk are SQL wrappers that join concept URIs.
 *   europeana.image_info(image bytea) → record
 *       format, MIME type and dimensions from the header, never raising.
 *
 * Main thread only; each function follows the three phases of boundary.hpp.
 */
#include "core/classify/classifier.hpp"
#include "core/decode/sniff.hpp"
#include "pg/boundary.hpp"
#include "pg/datum.hpp"
#include "pg/guc.hpp"
#include "pg/version_check.hpp"

extern "C" {
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/tuplestore.h"
}

namespace {

struct RankedRow {
	char *concept; /* NULL: none of the vocabulary */
	float score;
	char *concept_label;
	float concept_label_score;
};

struct ClassifyOut {
	int count;
	RankedRow *rows;
	char *label;
	float label_score;
	char *model;
	char *version;
};

} // namespace

/*
 * Runs on the main thread; may ereport(ERROR) with the SQLSTATE of the core's error
 * kind; rows are materialised in the SRF's per-query context.
 */
EUROPEANA_PG_FUNCTION(europeana_classify) {
	/* phase 1: PostgreSQL only */
	europeana::pg::CheckExtensionVersion();
	InitMaterializedSRF(fcinfo, 0);
	ReturnSetInfo *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1)) {
		return static_cast<Datum>(0); /* NULL image or k: no rows */
	}
	bytea *image = PG_GETARG_BYTEA_PP(0);
	const int32 k = PG_GETARG_INT32(1);
	if (k < 1) {
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("k must be at least 1, not %d", k),
		                errhint("Ask for the k best concepts, k >= 1.")));
	}
	char *model_name = europeana::pg::ModelArgOrDefault(fcinfo, 2);

	/* phase 2: C++ only */
	ClassifyOut out {};
	{
		const europeana::core::Classification c =
		    europeana::core::ClassifyImage(europeana::pg::AsBytes(image), model_name, europeana::pg::ClassifierSettingsFromGucs());
		out.count = static_cast<int>(std::min<size_t>(c.ranked.size(), static_cast<size_t>(k)));
		out.rows = static_cast<RankedRow *>(europeana::pg::PallocNoOom(sizeof(RankedRow) * (out.count + 1)));
		for (int i = 0; i < out.count; i++) {
			const auto &r = c.ranked[i];
			out.rows[i].concept = r.concept.empty() ? nullptr : europeana::pg::PStrdupNoOom(r.concept);
			out.rows[i].score = r.score;
			out.rows[i].concept_label = europeana::pg::PStrdupNoOom(r.top_label);
			out.rows[i].concept_label_score = r.top_label_score;
		}
		out.label = europeana::pg::PStrdupNoOom(c.top_label);
		out.label_score = c.top_label_score;
		out.model = europeana::pg::PStrdupNoOom(c.model_name);
		out.version = europeana::pg::PStrdupNoOom(c.model_version);
	}

	/* phase 3: PostgreSQL only */
	for (int i = 0; i < out.count; i++) {
		Datum values[9];
		bool nulls[9] = {false};
		values[0] = Int32GetDatum(i + 1);
		if (out.rows[i].concept) {
			values[1] = CStringGetTextDatum(out.rows[i].concept);
		} else {
			nulls[1] = true;
		}
		values[2] = Float4GetDatum(out.rows[i].score);
		values[3] = CStringGetTextDatum(out.rows[i].concept_label);
		values[4] = Float4GetDatum(out.rows[i].concept_label_score);
		values[5] = CStringGetTextDatum(out.label);
		values[6] = Float4GetDatum(out.label_score);
		values[7] = CStringGetTextDatum(out.model);
		values[8] = CStringGetTextDatum(out.version);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return static_cast<Datum>(0);
}

/*
 * Runs on the main thread; never raises for bad image bytes (the reason is returned in
 * the `error` column); result allocated in CurrentMemoryContext.
 */
EUROPEANA_PG_FUNCTION(europeana_image_info) {
	/* phase 1 */
	bytea *image = PG_GETARG_BYTEA_PP(0);
	TupleDesc desc;
	if (get_call_result_type(fcinfo, nullptr, &desc) != TYPEFUNC_COMPOSITE) {
		ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED), errmsg("image_info must return a record")));
	}
	desc = BlessTupleDesc(desc);

	/* phase 2 */
	char *format = nullptr;
	char *mime = nullptr;
	char *error = nullptr;
	int64 width = 0, height = 0;
	bool complete = false;
	{
		try {
			const europeana::core::ImageHeader h = europeana::core::ReadImageHeader(europeana::pg::AsBytes(image));
			format = europeana::pg::PStrdupNoOom(europeana::core::FormatName(h.format));
			mime = europeana::pg::PStrdupNoOom(europeana::core::FormatMimeType(h.format));
			width = h.width;
			height = h.height;
			complete = h.complete;
		} catch (const europeana::Error &e) {
			error = europeana::pg::PStrdupNoOom(e.what());
		}
	}

	/* phase 3 */
	Datum values[6];
	bool nulls[6] = {false};
	if (format) {
		values[0] = CStringGetTextDatum(format);
		values[1] = CStringGetTextDatum(mime);
		values[2] = Int32GetDatum(static_cast<int32>(std::min<int64>(width, PG_INT32_MAX)));
		values[3] = Int32GetDatum(static_cast<int32>(std::min<int64>(height, PG_INT32_MAX)));
		values[4] = BoolGetDatum(complete);
		nulls[5] = true;
	} else {
		nulls[0] = nulls[1] = nulls[2] = nulls[3] = nulls[4] = true;
		values[5] = CStringGetTextDatum(error);
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}
