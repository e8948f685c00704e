/*
 * version_check.hpp — does the loaded library match the installed extension?
 *
 * A server that keeps an old europeana.so loaded (preloaded libraries are only replaced
 * at restart) or a database whose extension was not updated after a package upgrade
 * would otherwise run SQL and C of different versions.  Checked once per backend, in
 * phase 1 of each SQL function (main thread, may ereport(ERROR)).
 */
#pragma once

namespace europeana::pg {

void CheckExtensionVersion();

/* The installed extension's version in the current database (palloc'd), or NULL when it
 * is not installed. Needs a transaction. */
char *InstalledExtensionVersion();

} // namespace europeana::pg
