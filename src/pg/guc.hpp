/*
 * guc.hpp — the extension's settings (europeana.*), defined in module.cpp.
 *
 * Read only on the main thread, in phase 1 of a function, and copied into plain C++
 * values before any core call.
 */
#pragma once

/* core types first, then postgres.h: boundary.hpp keeps that order */
#include "pg/boundary.hpp"

namespace europeana::pg {

extern char *guc_model_dir;
extern char *guc_default_model;
extern int guc_max_image_pixels;
extern int guc_intra_op_threads;
extern char *guc_api_url;
extern char *guc_api_key;
extern char *guc_thumbnail_url;
extern int guc_http_connect_timeout_ms;
extern int guc_http_timeout_ms;
extern int guc_max_image_bytes;
extern int guc_fetch_per_host;
extern bool guc_fetch_allow_private;
extern int guc_harvest_concurrency;
extern int guc_enrich_max_attempts;

/* The model named by argument `argno`, or europeana.default_model when it is NULL; raises
 * an error when both are empty. Phase 1. */
char *ModelArgOrDefault(FunctionCallInfo fcinfo, int argno);

/* The classifier settings of the current europeana.* values (main thread, phase 1). */
core::ClassifierSettings ClassifierSettingsFromGucs();

} // namespace europeana::pg
