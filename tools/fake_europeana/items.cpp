/*
 * items.cpp — JSON rendering of search items and record objects (see items.hpp).  nlohmann::json objects keep their
 * keys sorted, which matches the real API's @JsonPropertyOrder(alphabetic=true).
 *
 * Thread-safe: no shared state.
 */
#include "items.hpp"

#include "util.hpp"

#include <set>

namespace europeana::fake {

namespace {

using nlohmann::json;

/* Fields every profile returns (BriefView); standard and rich add the sets below. */
const std::set<std::string, std::less<>> kMinimalFields = {
    "id",
    "guid",
    "link",
    "type",
    "title",
    "dcTitleLangAware",
    "dcDescriptionLangAware",
    "dcCreatorLangAware",
    "dcDescription",
    "dcCreator",
    "year",
    "provider",
    "dataProvider",
    "language",
    "rights",
    "edmIsShownBy",
    "edmIsShownAt",
    "edmPreview",
    "europeanaCompleteness",
    "score",
    "edmPlaceLatitude",
    "edmPlaceLongitude",
};
const std::set<std::string, std::less<>> kRichOnlyFields = {
    "edmLandingPage",
    "dcTypeLangAware",
    "dcSubjectLangAware",
};

std::string
MediaHost(const Record &record) {
	return record.media_key.substr(0, record.media_key.find('/'));
}

std::string
CenturyLabel(const std::string &year) {
	int century = std::stoi(year) / 100 + 1;
	const char *suffix = "th";
	if (century % 10 == 1 && century % 100 != 11) {
		suffix = "st";
	} else if (century % 10 == 2 && century % 100 != 12) {
		suffix = "nd";
	} else if (century % 10 == 3 && century % 100 != 13) {
		suffix = "rd";
	}
	return std::to_string(century) + suffix + " century";
}

json
LangMap(const std::string &language, const json &values) {
	return json {{language, values}};
}

json
Titles(const Record &record) {
	json titles = json::array({record.title});
	if (record.title_duplicated) {
		titles.push_back(record.title);
	}
	return titles;
}

} // namespace

std::string
MediaUrl(const Record &record, const Urls &urls) {
	return urls.media_base + "/" + record.media_key;
}

std::string
PreviewUrl(const Record &record, const Urls &urls) {
	return urls.api_base + "/thumbnail/v2/url.json?uri=" + PercentEncode(MediaUrl(record, urls)) + "&type=IMAGE";
}

std::string
LandingUrl(const Record &record, const Urls &urls) {
	return urls.media_base + "/" + MediaHost(record) + "/__landing" + record.id;
}

json
SearchItem(const Record &record, const Dataset &dataset, const Urls &urls, const std::string &api_key,
           Profile profile) {
	json item = json::object();
	item["id"] = record.id;
	item["guid"] =
	    "https://www.europeana.eu/item" + record.id + "?utm_source=api&utm_medium=api&utm_campaign=" + api_key;
	item["link"] = "https://api.europeana.eu/record" + record.id + ".json?wskey=" + api_key;
	item["type"] = "IMAGE";
	item["title"] = Titles(record);
	item["dcTitleLangAware"] = LangMap(record.title_language, Titles(record));
	if (!record.description.empty()) {
		item["dcDescription"] = json::array({record.description});
		item["dcDescriptionLangAware"] = LangMap(record.language, json::array({record.description}));
	}
	if (!record.creator.empty()) {
		item["dcCreator"] = json::array({record.creator});
		item["dcCreatorLangAware"] = LangMap("def", json::array({record.creator}));
	}
	item["year"] = record.years;
	item["provider"] = json::array({record.provider});
	item["dataProvider"] = json::array({record.data_provider});
	item["language"] = json::array({record.language});
	item["rights"] = json::array({record.rights});
	if (record.has_is_shown_by) {
		item["edmIsShownBy"] = json::array({MediaUrl(record, urls)});
	}
	item["edmIsShownAt"] = json::array({LandingUrl(record, urls)});
	item["edmPreview"] = json::array({PreviewUrl(record, urls)});
	item["europeanaCompleteness"] = record.completeness;
	item["score"] = record.score;

	item["country"] = json::array({record.country});
	item["completeness"] = record.completeness;
	item["edmDatasetName"] = json::array({record.dataset_name});
	item["europeanaCollectionName"] = json::array({record.dataset_name});
	json concepts = json::array();
	json labels = json::array();
	json pref_labels = json::array();
	for (size_t index : record.concepts) {
		const Concept &concept = dataset.Concepts()[index];
		concepts.push_back(concept.edm_uri);
		labels.push_back(json {{"def", concept.label}});
		pref_labels.push_back(concept.label);
	}
	if (!concepts.empty()) {
		item["edmConcept"] = concepts;
		item["edmConceptLabel"] = labels;
		item["edmConceptPrefLabelLangAware"] = LangMap("en", pref_labels);
	}
	item["edmTimespanLabel"] = json::array({json {{"def", CenturyLabel(record.years[0])}}});
	item["index"] = 0;
	item["ugc"] = json::array({false});
	item["previewNoDistribute"] = false;
	item["timestamp"] = record.updated_ms + 4321;
	item["timestamp_created"] = IsoTimeMs(record.created_ms);
	item["timestamp_created_epoch"] = record.created_ms;
	item["timestamp_update"] = IsoTimeMs(record.updated_ms);
	item["timestamp_update_epoch"] = record.updated_ms;

	item["edmLandingPage"] = json::array({"https://www.europeana.eu/item" + record.id});
	item["dcTypeLangAware"] = LangMap(
	    "en",
	    json::array({record.concepts.empty() ? std::string("Object") : dataset.Concepts()[record.concepts[0]].label}));
	item["dcSubjectLangAware"] = LangMap(record.language, json::array({record.dataset}));

	if (profile == Profile::kRich) {
		return item;
	}
	json filtered = json::object();
	for (auto it = item.begin(); it != item.end(); ++it) {
		bool minimal = kMinimalFields.count(it.key()) > 0;
		bool rich_only = kRichOnlyFields.count(it.key()) > 0;
		if (minimal || (profile == Profile::kStandard && !rich_only)) {
			filtered[it.key()] = it.value();
		}
	}
	return filtered;
}

json
RecordObject(const Record &record, const Dataset &dataset, const Urls &urls) {
	const std::string &id = record.id;
	std::string media_url = MediaUrl(record, urls);
	std::string organization =
	    "http://data.europeana.eu/organization/" +
	    std::to_string(1482250000000000000ULL + Bucket("organization", record.data_provider, 1000000));
	std::string provider_org =
	    "http://data.europeana.eu/organization/" +
	    std::to_string(1482250000000000000ULL + Bucket("organization", record.provider, 1000000));

	json media_resource = {{"about", media_url}};
	if (record.has_dimensions) {
		ImageFacts facts = dataset.ImageInfo(record.image_index);
		media_resource["ebucoreHasMimeType"] = "image/jpeg";
		media_resource["ebucoreFileByteSize"] = facts.bytes;
		if (facts.width > 0) {
			media_resource["ebucoreWidth"] = facts.width;
			media_resource["ebucoreHeight"] = facts.height;
			media_resource["ebucoreOrientation"] = facts.width > facts.height ? "landscape" : "portrait";
		}
		media_resource["edmHasColorSpace"] = "sRGB";
		media_resource["edmComponentColor"] = json::array({"#FFEBCD", "#8B0000"});
	}
	media_resource["dctermsIsReferencedBy"] =
	    json::array({"https://iiif.europeana.eu/presentation" + id + "/manifest"});
	media_resource["webResourceEdmRights"] = json {{"def", json::array({record.rights})}};
	json landing_resource = {
	    {"about", LandingUrl(record, urls)}, {"ebucoreHasMimeType", "text/html"}, {"ebucoreFileByteSize", 0}};
	json web_resources = Bucket("weborder", id, 2) == 0 ? json::array({landing_resource, media_resource})
	                                                    : json::array({media_resource, landing_resource});

	json aggregation = {
	    {"about", "/aggregation/provider" + id},
	    {"aggregatedCHO", "/item" + id},
	    {"edmDataProvider", json {{"def", json::array({organization})}}},
	    {"edmProvider", json {{"def", json::array({provider_org})}}},
	    {"edmRights", json {{"def", json::array({record.rights})}}},
	    {"edmIsShownAt", LandingUrl(record, urls)},
	    {"edmObject", media_url},
	    {"edmUgc", "false"},
	    {"webResources", web_resources},
	};
	if (record.has_is_shown_by) {
		aggregation["edmIsShownBy"] = media_url;
	} else {
		aggregation["hasView"] = json::array({media_url});
	}

	json concepts = json::array();
	json concept_uris = json::array();
	for (size_t index : record.concepts) {
		const Concept &concept = dataset.Concepts()[index];
		concepts.push_back({{"about", concept.edm_uri}, {"prefLabel", {{"en", json::array({concept.label})}}}});
		concept_uris.push_back(concept.edm_uri);
	}
	json europeana_proxy = {
	    {"about", "/proxy/europeana" + id},
	    {"proxyFor", "/item" + id},
	    {"europeanaProxy", true},
	    {"edmType", "IMAGE"},
	};
	if (!concept_uris.empty()) {
		europeana_proxy["dcType"] = json {{"def", concept_uris}};
	}
	json provider_proxy = {
	    {"about", "/proxy/provider" + id},
	    {"proxyFor", "/item" + id},
	    {"europeanaProxy", false},
	    {"edmType", "IMAGE"},
	    {"dcTitle", LangMap(record.title_language, Titles(record))},
	    {"dcDate", LangMap("def", record.years)},
	};
	if (!record.description.empty()) {
		provider_proxy["dcDescription"] = LangMap(record.language, json::array({record.description}));
	}
	if (!record.creator.empty()) {
		provider_proxy["dcCreator"] = LangMap("def", json::array({record.creator}));
	}

	json object = {
	    {"about", id},
	    {"type", "IMAGE"},
	    {"aggregations", json::array({aggregation})},
	    {"concepts", concepts},
	    {"edmDatasetName", json::array({record.dataset_name})},
	    {"europeanaAggregation",
	     {
	         {"about", "/aggregation/europeana" + id},
	         {"aggregatedCHO", "/item" + id},
	         {"edmCountry", json {{"def", json::array({record.country})}}},
	         {"edmLanguage", json {{"def", json::array({record.language})}}},
	         {"edmLandingPage", "https://www.europeana.eu/item" + id},
	         {"edmPreview", PreviewUrl(record, urls)},
	     }},
	    {"europeanaCollectionName", json::array({record.dataset_name})},
	    {"europeanaCompleteness", record.completeness},
	    {"organizations", json::array({
	                          {{"about", organization}, {"prefLabel", {{"en", json::array({record.data_provider})}}}},
	                          {{"about", provider_org}, {"prefLabel", {{"en", json::array({record.provider})}}}},
	                      })},
	    {"providedCHOs", json::array({{{"about", "/item" + id}}})},
	    {"proxies", json::array({europeana_proxy, provider_proxy})},
	    {"timestamp_created", IsoTimeMs(record.created_ms)},
	    {"timestamp_created_epoch", record.created_ms},
	    {"timestamp_update", IsoTimeMs(record.updated_ms)},
	    {"timestamp_update_epoch", record.updated_ms},
	};
	return object;
}

} // namespace europeana::fake
