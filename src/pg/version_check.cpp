/*
 * version_check.cpp — compare EUROPEANA_VERSION with pg_extension.extversion.
 */
#include "pg/version_check.hpp"

#include "pg/boundary.hpp"

extern "C" {
#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/pg_extension.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"
}

namespace europeana::pg {

namespace {
bool checked = false;
}

char *
InstalledExtensionVersion() {
	ScanKeyData key;
	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber, F_NAMEEQ, CStringGetDatum("europeana"));
	Relation rel = table_open(ExtensionRelationId, AccessShareLock);
	SysScanDesc scan = systable_beginscan(rel, ExtensionNameIndexId, true, nullptr, 1, &key);
	HeapTuple tuple = systable_getnext(scan);
	char *installed = nullptr;
	if (HeapTupleIsValid(tuple)) {
		bool isnull = false;
		const Datum d = heap_getattr(tuple, Anum_pg_extension_extversion, RelationGetDescr(rel), &isnull);
		if (!isnull) {
			installed = text_to_cstring(DatumGetTextPP(d));
		}
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return installed;
}

void
CheckExtensionVersion() {
	if (checked) {
		return;
	}
	char *installed = InstalledExtensionVersion();

	if (installed != nullptr && strcmp(installed, EUROPEANA_VERSION) != 0) {
		ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
		                errmsg("loaded europeana library version %s does not match the installed extension version %s",
		                       EUROPEANA_VERSION, installed),
		                errhint("Run ALTER EXTENSION europeana UPDATE, or restart the server if the library was "
		                        "upgraded while preloaded.")));
	}
	checked = true;
}

} // namespace europeana::pg
