/*
 * items.hpp — renders a catalogue record as the JSON the real APIs return: a Search API item (profile-dependent
 * field set, §5: keys alphabetical, nearly everything string[], id/guid/link/type plain strings) and a Record API
 * object (§8: edmIsShownBy a plain string, LangMaps for rights and providers, web resources in arbitrary order).
 *
 * Thread-safe: pure functions of their arguments (the dataset's photo-facts cache locks itself).
 */
#pragma once

#include "dataset.hpp"

#include <nlohmann/json.hpp>

#include <string>

namespace europeana::fake {

/* Where generated URLs point: the fake's own API origin and the prefix that stands in for provider hosts. */
struct Urls {
	std::string api_base;   /* e.g. http://127.0.0.1:8080 */
	std::string media_base; /* e.g. http://127.0.0.1:8080/media */
};

enum class Profile { kMinimal, kStandard, kRich };

/* MediaUrl is the rewritten edmIsShownBy: media_base + "/" + host[:port]/path?query of the provider URL. */
std::string MediaUrl(const Record &record, const Urls &urls);

/* PreviewUrl is the edmPreview value: the v2 thumbnail URL for the media URL. */
std::string PreviewUrl(const Record &record, const Urls &urls);

/* LandingUrl is edmIsShownAt: an HTML page under the same stand-in provider host. */
std::string LandingUrl(const Record &record, const Urls &urls);

/* SearchItem renders one search hit; `api_key` is echoed into guid and link exactly as the real API leaks it. */
nlohmann::json SearchItem(const Record &record, const Dataset &dataset, const Urls &urls, const std::string &api_key,
                          Profile profile);

/* RecordObject renders the Record API's "object" member. */
nlohmann::json RecordObject(const Record &record, const Dataset &dataset, const Urls &urls);

} // namespace europeana::fake
