/*
 * rights.cpp — prefix table from Europeana's RightReusabilityCategorizer and RightsOption.
 */
#include "core/api/rights.hpp"

#include "core/common/strings.hpp"

#include <cctype>
#include <cstring>

namespace europeana::core {

namespace {

struct RightsPrefix {
	const char *prefix;
	const char *category;
};

constexpr RightsPrefix kRightsPrefixes[] = {
    {"http://creativecommons.org/publicdomain/mark/", "open"},
    {"http://creativecommons.org/publicdomain/zero/1.0/", "open"},
    {"http://creativecommons.org/licenses/by/", "open"},
    {"http://creativecommons.org/licenses/by-sa/", "open"},
    {"http://creativecommons.org/licenses/by-nc/", "restricted"},
    {"http://creativecommons.org/licenses/by-nc-sa/", "restricted"},
    {"http://creativecommons.org/licenses/by-nc-nd/", "restricted"},
    {"http://creativecommons.org/licenses/by-nd/", "restricted"},
    {"http://www.europeana.eu/rights/out-of-copyright-non-commercial/", "restricted"},
    {"http://rightsstatements.org/vocab/InC-EDU/1.0/", "restricted"},
    {"http://rightsstatements.org/vocab/NoC-NC/1.0/", "restricted"},
    {"http://rightsstatements.org/vocab/NoC-OKLR/1.0/", "restricted"},
    {"http://www.europeana.eu/rights/rr-f/", "permission"},
    {"http://www.europeana.eu/rights/rr-p/", "permission"},
    {"http://www.europeana.eu/rights/rr-r/", "permission"},
    {"http://www.europeana.eu/rights/unknown/", "permission"},
    {"http://www.europeana.eu/rights/test-orphan-work-test/", "permission"},
    {"http://rightsstatements.org/vocab/InC/1.0/", "permission"},
    {"http://rightsstatements.org/vocab/InC-OW-EU/1.0/", "permission"},
    {"http://rightsstatements.org/vocab/CNE/1.0/", "permission"},
};

bool
StartsWith(const std::string &text, const char *prefix) {
	return text.compare(0, std::strlen(prefix), prefix) == 0;
}

/* Trims white space, lower-cases scheme and host, and rewrites https:// to http://.  The
 * path keeps its case: "InC" and "inc" are different statements to the server. */
std::string
NormaliseRightsUri(const std::string &uri) {
	std::string out = Trim(uri);
	const size_t scheme_end = out.find("://");
	if (scheme_end == std::string::npos) {
		return out;
	}
	const size_t host_end = out.find('/', scheme_end + 3);
	const size_t lower_end = host_end == std::string::npos ? out.size() : host_end;
	for (size_t i = 0; i < lower_end; i++) {
		out[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(out[i])));
	}
	if (StartsWith(out, "https://")) {
		out.erase(4, 1);
	}
	return out;
}

} // namespace

std::string
ReusabilityOf(const std::string &rights_uri) {
	std::string uri = NormaliseRightsUri(rights_uri);
	if (!uri.empty() && uri.back() != '/') {
		uri.push_back('/');
	}
	for (const auto &entry : kRightsPrefixes) {
		if (StartsWith(uri, entry.prefix)) {
			return entry.category;
		}
	}
	return "uncategorized";
}

} // namespace europeana::core
