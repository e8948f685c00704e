/*
 * rights.hpp — classify an edm:rights URI the way Europeana's `reusability` filter does.
 *
 * Europeana groups rights statements into open (PDM, CC0, CC BY, CC BY-SA), restricted
 * (the non-commercial and no-derivatives CC licences, InC-EDU, NoC-NC, NoC-OKLR, out of
 * copyright non-commercial) and permission (rights reserved, InC, InC-OW-EU, CNE,
 * unknown); everything else is uncategorized.  The server matches http:// prefixes of any
 * version (/4.0/, /3.0/nl/); the client normalises https:// to http:// first, so stored
 * data written either way classifies the same.
 */
#pragma once

#include "core/common/no_postgres.hpp"

#include <string>

namespace europeana::core {

/* ReusabilityOf returns "open", "restricted", "permission" or "uncategorized".  Leading
 * and trailing white space is ignored, an https scheme counts as http, the scheme and host
 * compare case-insensitively and a missing trailing slash is tolerated
 * (".../zero/1.0" is CC0).  Never throws except std::bad_alloc. */
std::string ReusabilityOf(const std::string &rights_uri);

} // namespace europeana::core
