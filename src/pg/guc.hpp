/*
 * guc.hpp — the extension's settings (europeana.*), defined in module.cpp.
 *
 * Read only on the main thread, in phase 1 of a function, and copied into plain C++
 * values before any core call.
 */
#pragma once

namespace europeana::pg {

extern char *guc_model_dir;
extern char *guc_default_model;
extern int guc_max_image_pixels;
extern int guc_intra_op_threads;

} // namespace europeana::pg
