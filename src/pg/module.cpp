/*
 * module.cpp — library entry: PG_MODULE_MAGIC, _PG_init, settings.
 *
 * _PG_init runs in the postmaster when the library is in shared_preload_libraries, so
 * it only defines settings and installs the fast-exit hook: no LibTorch, OpenCV or curl
 * initialisation, no model load, no threads (a fork copies only the calling thread; a
 * pool created here hangs every backend).  The test suite asserts that a preloaded
 * postmaster runs exactly one thread.
 */
#include "pg/bgworker/worker.hpp"
#include "pg/boundary.hpp"
#include "pg/guc.hpp"

#include <climits>
#include <cstdlib>
#include <unistd.h>

extern "C" {
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
}

extern "C" {
PG_MODULE_MAGIC;
void _PG_init(void);
}

namespace europeana::pg {

char *guc_model_dir = nullptr;
char *guc_default_model = nullptr;
int guc_max_image_pixels = 100000000;
int guc_intra_op_threads = 1;
char *guc_api_url = nullptr;
char *guc_api_key = nullptr;
char *guc_thumbnail_url = nullptr;
int guc_http_connect_timeout_ms = 10000;
int guc_http_timeout_ms = 60000;
int guc_max_image_bytes = 64 * 1024 * 1024;
int guc_fetch_per_host = 4;
bool guc_fetch_allow_private = false;
int guc_harvest_concurrency = 4;
int guc_enrich_max_attempts = 5;

char *
ModelArgOrDefault(FunctionCallInfo fcinfo, int argno) {
	if (!PG_ARGISNULL(argno)) {
		return text_to_cstring(PG_GETARG_TEXT_PP(argno));
	}
	if (guc_default_model == nullptr || guc_default_model[0] == '\0') {
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
		                errmsg("no model given and europeana.default_model is empty"),
		                errhint("Pass a model name or SET europeana.default_model.")));
	}
	return pstrdup(guc_default_model);
}

core::ClassifierSettings
ClassifierSettingsFromGucs() {
	core::ClassifierSettings s;
	s.model_dir = guc_model_dir ? guc_model_dir : "";
	s.max_image_pixels = static_cast<uint64_t>(guc_max_image_pixels);
	s.intra_op_threads = guc_intra_op_threads;
	return s;
}

namespace {

char default_model_dir[MAXPGPATH];

/*
 * LibTorch's static destructors make every exiting process that has it mapped spend
 * about a second of CPU in copy-on-write faults (connections 42/s -> 3/s when
 * preloaded).  This handler, registered after LibTorch's, runs first at exit() and ends
 * the process with the same status; PostgreSQL's own proc_exit callbacks have already
 * run by then, and PostgreSQL does not rely on stdio flushing at exit.
 */
void
FastExit(int status, void *) {
	_exit(status);
}

} // namespace

} // namespace europeana::pg

void
_PG_init(void) {
	using namespace europeana::pg;

	char share_path[MAXPGPATH];
	get_share_path(my_exec_path, share_path);
	snprintf(default_model_dir, sizeof(default_model_dir), "%s/europeana/models", share_path);

	DefineCustomStringVariable("europeana.model_dir", "Directory that holds model metadata and weights.",
	                           "Each model is <name>.model.json plus the weights file it names.", &guc_model_dir,
	                           default_model_dir, PGC_SUSET, 0, nullptr, nullptr, nullptr);
	DefineCustomStringVariable("europeana.default_model", "Model used when a function is given no model name.",
	                           nullptr, &guc_default_model, "mobilenet_v2_imagenet_float", PGC_USERSET, 0, nullptr,
	                           nullptr, nullptr);
	DefineCustomIntVariable("europeana.max_image_pixels", "Largest image (width x height) that will be decoded.",
	                        "Images whose header declares more pixels are refused before decoding.",
	                        &guc_max_image_pixels, 100000000, 1, INT_MAX, PGC_SUSET, 0, nullptr, nullptr, nullptr);
	DefineCustomIntVariable("europeana.intra_op_threads", "LibTorch intra-op threads per backend.",
	                        "Keep 1 when many backends classify at once; more threads only pay off on an idle machine.",
	                        &guc_intra_op_threads, 1, 1, 64, PGC_USERSET, 0, nullptr, nullptr, nullptr);
	DefineCustomStringVariable("europeana.api_url", "Europeana Search API endpoint.", nullptr, &guc_api_url,
	                           "https://api.europeana.eu/record/v2/search.json", PGC_SUSET, 0, nullptr, nullptr,
	                           nullptr);
	/* The key is a secret: only superusers may read or set it, it is not listed by SHOW
	 * ALL, and it is only ever sent in the X-Api-Key header. */
	DefineCustomStringVariable("europeana.api_key", "Europeana API key (sent as X-Api-Key).",
	                           "Set it in postgresql.conf or with ALTER SYSTEM so that it never appears in a statement.",
	                           &guc_api_key, "api2demo", PGC_SUSET,
	                           GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE, nullptr, nullptr, nullptr);
	DefineCustomStringVariable("europeana.thumbnail_url", "Europeana thumbnail API (v2 url.json) used as fallback.",
	                           nullptr, &guc_thumbnail_url, "https://api.europeana.eu/thumbnail/v2/url.json",
	                           PGC_SUSET, 0, nullptr, nullptr, nullptr);
	DefineCustomIntVariable("europeana.http_connect_timeout_ms", "Connect timeout of HTTP requests.", nullptr,
	                        &guc_http_connect_timeout_ms, 10000, 100, 600000, PGC_USERSET, GUC_UNIT_MS, nullptr,
	                        nullptr, nullptr);
	DefineCustomIntVariable("europeana.http_timeout_ms", "Total timeout of one HTTP request (API page or image).",
	                        nullptr, &guc_http_timeout_ms, 60000, 100, 3600000, PGC_USERSET, GUC_UNIT_MS, nullptr,
	                        nullptr, nullptr);
	DefineCustomIntVariable("europeana.max_image_bytes", "Largest image download accepted.", nullptr,
	                        &guc_max_image_bytes, 64 * 1024 * 1024, 1024, INT_MAX / 2, PGC_SUSET, GUC_UNIT_BYTE,
	                        nullptr, nullptr, nullptr);
	DefineCustomIntVariable("europeana.fetch_per_host", "Concurrent connections per image host.", nullptr,
	                        &guc_fetch_per_host, 4, 1, 64, PGC_USERSET, 0, nullptr, nullptr, nullptr);
	DefineCustomBoolVariable("europeana.fetch_allow_private",
	                         "Allow downloads from loopback, private, link-local and metadata addresses.",
	                         "Off by default: a record's URL must not reach into the server's own network.",
	                         &guc_fetch_allow_private, false, PGC_SUSET, 0, nullptr, nullptr, nullptr);
	DefineCustomIntVariable("europeana.harvest_concurrency", "Concepts harvested in parallel by one harvest call.",
	                        nullptr, &guc_harvest_concurrency, 4, 1, 32, PGC_USERSET, 0, nullptr, nullptr, nullptr);
	DefineCustomIntVariable("europeana.enrich_max_attempts",
	                        "Attempts at enriching an image before its queue row is dead-lettered.",
	                        "Each failed attempt records its error and SQLSTATE and waits longer before the next.",
	                        &guc_enrich_max_attempts, 5, 1, 100, PGC_SUSET, 0, nullptr, nullptr, nullptr);
	/* the workers' settings include PGC_POSTMASTER ones, which can only be defined while
	 * preloading; without them europeana.worker_count stays undefined, which the queue's
	 * wake-up trigger tests */
	if (process_shared_preload_libraries_in_progress) {
		RegisterWorkers();
	}
	MarkGUCPrefixReserved("europeana");

	on_exit(FastExit, nullptr);
}
