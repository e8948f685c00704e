/*
 * module.cpp — library entry: PG_MODULE_MAGIC, _PG_init, settings.
 *
 * _PG_init runs in the postmaster when the library is in shared_preload_libraries, so
 * it only defines settings and installs the fast-exit hook: no LibTorch, OpenCV or curl
 * initialisation, no model load, no threads (a fork copies only the calling thread; a
 * pool created here hangs every backend).  The test suite asserts that a preloaded
 * postmaster runs exactly one thread.
 */
#include "pg/boundary.hpp"
#include "pg/guc.hpp"

#include <climits>
#include <cstdlib>
#include <unistd.h>

extern "C" {
#include "miscadmin.h"
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
	MarkGUCPrefixReserved("europeana");

	on_exit(FastExit, nullptr);
}
