/*
 * dataset.cpp — loads the pilot CSV, the vocabulary and the photo directory, and derives each record's metadata
 * deterministically (see dataset.hpp).  The CSV reader follows RFC 4180: quoted fields may hold commas, doubled
 * quotes and newlines.  Rows repeated in the CSV (the pilot file repeats many) are merged by id.
 *
 * Runs once at start-up on the main thread; throws std::runtime_error on unusable input.
 */
#include "dataset.hpp"

#include "blobs.hpp"
#include "util.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>

namespace europeana::fake {

namespace {

namespace fs = std::filesystem;

constexpr std::string_view kConceptBase = "http://data.europeana.eu/concept/base/";
constexpr std::string_view kConceptNew = "http://data.europeana.eu/concept/";

struct RightsChoice {
	const char *uri;
	int percent;
};

/* Mostly open, some restricted and permission, and http/https variants that only a normalising client classifies. */
constexpr RightsChoice kRightsChoices[] = {
    {"http://creativecommons.org/publicdomain/zero/1.0/", 28},
    {"http://creativecommons.org/publicdomain/mark/1.0/", 17},
    {"http://creativecommons.org/licenses/by/4.0/", 10},
    {"http://creativecommons.org/licenses/by-sa/3.0/nl/", 5},
    {"http://creativecommons.org/licenses/by-nc-sa/4.0/", 6},
    {"http://creativecommons.org/licenses/by-nc-nd/4.0/", 3},
    {"http://rightsstatements.org/vocab/NoC-NC/1.0/", 2},
    {"http://rightsstatements.org/vocab/InC-EDU/1.0/", 1},
    {"http://rightsstatements.org/vocab/InC/1.0/", 8},
    {"http://www.europeana.eu/rights/rr-f/", 3},
    {"http://rightsstatements.org/vocab/CNE/1.0/", 2},
    {"http://rightsstatements.org/vocab/NKC/1.0/", 3},
    {"https://creativecommons.org/publicdomain/zero/1.0/", 7},
    {"https://creativecommons.org/licenses/by/4.0/", 3},
    {"https://rightsstatements.org/vocab/InC/1.0/", 2},
};

constexpr const char *kOpenPrefixes[] = {
    "http://creativecommons.org/publicdomain/mark/",
    "http://creativecommons.org/publicdomain/zero/1.0/",
    "http://creativecommons.org/licenses/by/",
    "http://creativecommons.org/licenses/by-sa/",
};
constexpr const char *kRestrictedPrefixes[] = {
    "http://creativecommons.org/licenses/by-nc/",
    "http://creativecommons.org/licenses/by-nc-sa/",
    "http://creativecommons.org/licenses/by-nc-nd/",
    "http://creativecommons.org/licenses/by-nd/",
    "http://www.europeana.eu/rights/out-of-copyright-non-commercial/",
    "http://rightsstatements.org/vocab/InC-EDU/1.0/",
    "http://rightsstatements.org/vocab/NoC-NC/1.0/",
    "http://rightsstatements.org/vocab/NoC-OKLR/1.0/",
};
constexpr const char *kPermissionPrefixes[] = {
    "http://www.europeana.eu/rights/rr-f/",
    "http://www.europeana.eu/rights/rr-p/",
    "http://www.europeana.eu/rights/rr-r/",
    "http://www.europeana.eu/rights/unknown/",
    "http://www.europeana.eu/rights/test-orphan-work-test/",
    "http://rightsstatements.org/vocab/InC/1.0/",
    "http://rightsstatements.org/vocab/InC-OW-EU/1.0/",
    "http://rightsstatements.org/vocab/CNE/1.0/",
};

struct CountryInfo {
	const char *tld;
	const char *name;
	const char *code;
	const char *language;
};

constexpr CountryInfo kCountries[] = {
    {"no", "Norway", "NO", "no"},   {"se", "Sweden", "SE", "sv"},         {"ee", "Estonia", "EE", "et"},
    {"de", "Germany", "DE", "de"},  {"be", "Belgium", "BE", "nl"},        {"nl", "Netherlands", "NL", "nl"},
    {"hr", "Croatia", "HR", "hr"},  {"fi", "Finland", "FI", "fi"},        {"pl", "Poland", "PL", "pl"},
    {"gr", "Greece", "GR", "el"},   {"uk", "United Kingdom", "GB", "en"}, {"fr", "France", "FR", "fr"},
    {"es", "Spain", "ES", "es"},    {"it", "Italy", "IT", "it"},          {"dk", "Denmark", "DK", "da"},
    {"at", "Austria", "AT", "de"},  {"cz", "Czech Republic", "CZ", "cs"}, {"hu", "Hungary", "HU", "hu"},
    {"pt", "Portugal", "PT", "pt"}, {"ie", "Ireland", "IE", "en"},        {"si", "Slovenia", "SI", "sl"},
    {"sk", "Slovakia", "SK", "sk"}, {"lt", "Lithuania", "LT", "lt"},      {"lv", "Latvia", "LV", "lv"},
    {"ro", "Romania", "RO", "ro"},  {"bg", "Bulgaria", "BG", "bg"},
};

constexpr const char *kProviderTemplates[] = {
    "City Museum of ",        "National Archives of ", "Heritage Collections, ",
    "University Library of ", "Photo Archive of ",     "Museum of Applied Arts, ",
};

std::string
ReadFile(const std::string &path) {
	std::ifstream in(path, std::ios::binary);
	if (!in) {
		throw std::runtime_error("cannot open " + path);
	}
	std::ostringstream buffer;
	buffer << in.rdbuf();
	return buffer.str();
}

/* ParseCsv splits RFC 4180 text into rows of fields. */
std::vector<std::vector<std::string>>
ParseCsv(const std::string &text) {
	std::vector<std::vector<std::string>> rows;
	std::vector<std::string> row;
	std::string field;
	bool in_quotes = false;
	bool field_started = false;
	for (size_t i = 0; i < text.size(); i++) {
		char c = text[i];
		if (in_quotes) {
			if (c == '"') {
				if (i + 1 < text.size() && text[i + 1] == '"') {
					field.push_back('"');
					i++;
				} else {
					in_quotes = false;
				}
			} else {
				field.push_back(c);
			}
			continue;
		}
		if (c == '"' && field.empty()) {
			in_quotes = true;
			field_started = true;
		} else if (c == ',') {
			row.push_back(std::move(field));
			field.clear();
			field_started = true;
		} else if (c == '\n' || c == '\r') {
			if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
				i++;
			}
			if (field_started || !field.empty() || !row.empty()) {
				row.push_back(std::move(field));
				rows.push_back(std::move(row));
			}
			row.clear();
			field.clear();
			field_started = false;
		} else {
			/* Fast path: copy the run of ordinary characters up to the next delimiter at once. */
			size_t stop = text.find_first_of(",\r\n", i);
			if (stop == std::string::npos) {
				stop = text.size();
			}
			field.append(text, i, stop - i);
			i = stop - 1;
			field_started = true;
		}
	}
	if (field_started || !field.empty() || !row.empty()) {
		row.push_back(field);
		rows.push_back(row);
	}
	return rows;
}

std::string
LabelFromName(const std::string &name) {
	std::string label = name;
	std::replace(label.begin(), label.end(), '_', ' ');
	if (!label.empty()) {
		label[0] = char(std::toupper(static_cast<unsigned char>(label[0])));
	}
	return label;
}

std::string
EdmConceptUri(const std::string &uri) {
	if (StartsWith(uri, kConceptBase)) {
		return std::string(kConceptNew) + uri.substr(kConceptBase.size());
	}
	return uri;
}

/* SplitUrl returns {host[:port], path-and-query} of an absolute http(s) URL, or nullopt. */
std::optional<std::pair<std::string, std::string>>
SplitUrl(const std::string &url) {
	size_t scheme_end = url.find("://");
	if (scheme_end == std::string::npos) {
		return std::nullopt;
	}
	size_t host_begin = scheme_end + 3;
	size_t host_end = url.find_first_of("/?#", host_begin);
	std::string host =
	    url.substr(host_begin, host_end == std::string::npos ? std::string::npos : host_end - host_begin);
	if (host.empty()) {
		return std::nullopt;
	}
	std::string rest = host_end == std::string::npos ? "/" : url.substr(host_end);
	size_t fragment = rest.find('#');
	if (fragment != std::string::npos) {
		rest.resize(fragment);
	}
	if (rest.empty() || rest[0] != '/') {
		rest = "/" + rest;
	}
	return std::make_pair(host, rest);
}

const CountryInfo &
CountryFor(const std::string &host, const std::string &dataset) {
	size_t dot = host.rfind('.');
	std::string tld = ToLower(host.substr(dot == std::string::npos ? 0 : dot + 1));
	size_t colon = tld.find(':');
	if (colon != std::string::npos) {
		tld.resize(colon);
	}
	for (const CountryInfo &info : kCountries) {
		if (tld == info.tld) {
			return info;
		}
	}
	/* Generic TLDs (.org, .net, .eu, .com): a stable choice per dataset among the larger contributors. */
	static const size_t kFallback[] = {5, 1, 3, 11, 13, 12, 10, 0};
	return kCountries[kFallback[Bucket("country", dataset, std::size(kFallback))]];
}

void
DeriveMetadata(Record &record, const std::vector<Concept> &concepts, const DatasetOptions &options) {
	const std::string &id = record.id;
	int rights_bucket = int(Bucket("rights", id, 100));
	for (const RightsChoice &choice : kRightsChoices) {
		if (rights_bucket < choice.percent) {
			record.rights = choice.uri;
			break;
		}
		rights_bucket -= choice.percent;
	}
	record.reusability = ReusabilityOf(record.rights);

	auto split = SplitUrl(record.provider_url);
	const CountryInfo &country = CountryFor(split ? split->first : std::string(), record.dataset);
	record.country = country.name;
	if (Bucket("countrycase", record.dataset, 25) == 0) {
		record.country = ToLower(record.country); /* §13.22: older data wrote countries in lower case */
	}
	record.country_code = country.code;
	record.language = country.language;
	const char *provider_template =
	    kProviderTemplates[Bucket("dataprovider", record.dataset, std::size(kProviderTemplates))];
	record.data_provider = std::string(provider_template) + country.name;
	record.provider = std::string(country.name) + " Cultural Heritage Aggregator";
	std::string short_name = record.data_provider;
	short_name.erase(std::remove_if(short_name.begin(), short_name.end(),
	                                [](char c) { return !std::isalnum(static_cast<unsigned char>(c)); }),
	                 short_name.end());
	record.dataset_name = record.dataset + "_Ag_" + country.code + "_" + short_name;

	std::string first_label = record.concepts.empty() ? "Object" : concepts[record.concepts[0]].label;
	record.title = first_label + " " + record.local;
	record.title_language = Bucket("titlelang", id, 4) == 0 ? "def" : record.language;
	record.title_duplicated = Bucket("titledup", id, 10) == 0;
	if (Bucket("description", id, 4) == 0) {
		record.description = first_label + " from the collection of " + record.data_provider +
		                     ".&nbsp;\n          Dataset " + record.dataset + ".";
	}
	uint64_t creator = Bucket("creator", id, 5);
	if (creator == 0) {
		record.creator = "Unknown maker";
	} else if (creator == 1) {
		record.creator = "http://data.europeana.eu/agent/" + std::to_string(1000 + Bucket("agent", id, 90000));
	}
	int year = 1850 + int(Bucket("year", id, 170));
	record.years.push_back(std::to_string(year));
	if (Bucket("year2", id, 10) == 0) {
		record.years.push_back(std::to_string(year - 3));
	}
	record.completeness = 1 + int(Bucket("completeness", id, 10));
	record.created_ms = 1262304000000LL + int64_t(Bucket("created", id, 400000000000ULL));
	record.updated_ms = record.created_ms + int64_t(Bucket("updated", id, 31536000000ULL));
	record.score = double(200000 + Bucket("score", id, 800000)) / 1e6;
	record.has_is_shown_by = int(Bucket("isshownby", id, 100)) >= options.no_is_shown_by_pct;
	/* Thumbnails are stored per media URL, so records sharing a URL share the answer. */
	record.has_thumbnail = int(Bucket("thumbnail", record.media_owner, 100)) >= options.no_thumbnail_pct;
	record.has_dimensions = Bucket("dimensions", id, 10) != 0;

	std::string text = record.title + " " + record.data_provider + " " + record.country + " " + record.dataset_name;
	for (size_t index : record.concepts) {
		text += " " + concepts[index].name + " " + concepts[index].label;
	}
	record.search_text = ToLower(text);
}

bool
IsJpegName(const fs::path &path) {
	std::string ext = ToLower(path.extension().string());
	return ext == ".jpg" || ext == ".jpeg";
}

} // namespace

std::string
ConceptKey(std::string_view uri) {
	if (StartsWith(uri, kConceptBase)) {
		return "europeana:" + std::string(uri.substr(kConceptBase.size()));
	}
	if (StartsWith(uri, kConceptNew)) {
		return "europeana:" + std::string(uri.substr(kConceptNew.size()));
	}
	return std::string(uri);
}

std::string
ReusabilityOf(std::string_view rights) {
	for (const char *prefix : kOpenPrefixes) {
		if (StartsWith(rights, prefix)) {
			return "open";
		}
	}
	for (const char *prefix : kRestrictedPrefixes) {
		if (StartsWith(rights, prefix)) {
			return "restricted";
		}
	}
	for (const char *prefix : kPermissionPrefixes) {
		if (StartsWith(rights, prefix)) {
			return "permission";
		}
	}
	return "uncategorized";
}

Dataset::Dataset(const DatasetOptions &options) {
	/* Vocabulary: name -> URI, in file order. */
	nlohmann::json vocabulary;
	try {
		vocabulary = nlohmann::json::parse(ReadFile(options.vocabulary_json));
	} catch (const nlohmann::json::exception &e) {
		throw std::runtime_error("cannot parse " + options.vocabulary_json + ": " + e.what());
	}
	if (!vocabulary.is_object()) {
		throw std::runtime_error(options.vocabulary_json + ": expected an object of name -> concept URI");
	}
	for (auto it = vocabulary.begin(); it != vocabulary.end(); ++it) {
		if (!it.value().is_string()) {
			continue;
		}
		Concept concept;
		concept.name = it.key();
		concept.label = LabelFromName(it.key());
		concept.vocabulary_uri = it.value().get<std::string>();
		concept.edm_uri = EdmConceptUri(concept.vocabulary_uri);
		concepts_.push_back(concept);
	}
	std::sort(concepts_.begin(), concepts_.end(), [](const Concept &a, const Concept &b) { return a.name < b.name; });
	for (size_t i = 0; i < concepts_.size(); i++) {
		concept_by_key_[ConceptKey(concepts_[i].vocabulary_uri)] = i;
	}

	/* Records: merge repeated rows by id, keep the union of their concepts. */
	std::vector<std::vector<std::string>> rows = ParseCsv(ReadFile(options.records_csv));
	if (rows.empty()) {
		throw std::runtime_error(options.records_csv + ": empty file");
	}
	const std::vector<std::string> &header = rows[0];
	auto column = [&](const char *name) -> size_t {
		auto it = std::find(header.begin(), header.end(), name);
		if (it == header.end()) {
			throw std::runtime_error(options.records_csv + ": missing column " + name);
		}
		return size_t(it - header.begin());
	};
	size_t col_concepts = column("skos_concept");
	size_t col_id = column("ID");
	size_t col_url = column("URL");
	std::map<std::string, Record> by_id;
	for (size_t r = 1; r < rows.size(); r++) {
		const std::vector<std::string> &row = rows[r];
		csv_rows++;
		if (row.size() != header.size()) {
			skipped_rows++;
			continue;
		}
		std::string id = Trim(row[col_id]);
		std::vector<std::string> parts = SplitAny(id, "/");
		if (id.empty() || id[0] != '/' || parts.size() != 2 || !SplitUrl(Trim(row[col_url]))) {
			skipped_rows++;
			continue;
		}
		auto [it, inserted] = by_id.try_emplace(id);
		Record &record = it->second;
		if (inserted) {
			record.id = id;
			record.dataset = parts[0];
			record.local = parts[1];
			record.provider_url = Trim(row[col_url]);
		} else {
			duplicate_rows++;
		}
		for (const std::string &uri : SplitAny(row[col_concepts], " \t")) {
			auto concept = concept_by_key_.find(ConceptKey(uri));
			if (concept != concept_by_key_.end() &&
			    std::find(record.concepts.begin(), record.concepts.end(), concept->second) == record.concepts.end()) {
				record.concepts.push_back(concept->second);
			}
		}
	}
	records_.reserve(by_id.size());
	for (auto &entry : by_id) {
		records_.push_back(std::move(entry.second));
	}
	for (size_t i = 0; i < records_.size(); i++) {
		record_by_id_[records_[i].id] = i;
	}

	/* Photos: every JPEG below the directory, sorted by relative path. */
	images_root_ = options.images_dir;
	std::error_code ec;
	if (!fs::is_directory(images_root_, ec)) {
		throw std::runtime_error("--images " + images_root_ + " is not a directory");
	}
	for (auto it = fs::recursive_directory_iterator(images_root_, fs::directory_options::follow_directory_symlink, ec);
	     !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
		if (it->is_regular_file(ec) && IsJpegName(it->path())) {
			image_paths_.push_back(fs::relative(it->path(), images_root_).generic_string());
		}
	}
	std::sort(image_paths_.begin(), image_paths_.end());
	if (image_paths_.empty()) {
		throw std::runtime_error("--images " + images_root_ + " holds no .jpg/.jpeg files");
	}
	image_facts_.resize(image_paths_.size());

	/* Media groups: records sharing a provider URL share one media resource; the lowest id owns it. */
	for (size_t i = 0; i < records_.size(); i++) {
		Record &record = records_[i];
		auto split = SplitUrl(record.provider_url);
		record.media_key = split->first + split->second;
		auto [group, inserted] = group_by_url_.try_emplace(record.provider_url, groups_.size());
		if (inserted) {
			groups_.emplace_back();
			group_by_key_[record.media_key] = group->second;
			group_by_decoded_key_.try_emplace(PercentDecode(record.media_key), group->second);
		}
		groups_[group->second].push_back(i);
		record.media_owner = records_[groups_[group->second][0]].id;
		record.image_index = Bucket("image", record.media_owner, image_paths_.size());
		DeriveMetadata(record, concepts_, options);
	}
}

const Record *
Dataset::FindById(std::string_view id) const {
	auto it = record_by_id_.find(std::string(id));
	return it == record_by_id_.end() ? nullptr : &records_[it->second];
}

const Record *
Dataset::FindByMediaKey(std::string_view key) const {
	auto it = group_by_key_.find(std::string(key));
	if (it == group_by_key_.end()) {
		it = group_by_decoded_key_.find(PercentDecode(key));
		if (it == group_by_decoded_key_.end()) {
			return nullptr;
		}
	}
	return &records_[groups_[it->second][0]];
}

const Record *
Dataset::FindByProviderUrl(std::string_view url) const {
	auto it = group_by_url_.find(std::string(url));
	return it == group_by_url_.end() ? nullptr : &records_[groups_[it->second][0]];
}

std::optional<size_t>
Dataset::FindConcept(std::string_view uri) const {
	auto it = concept_by_key_.find(ConceptKey(uri));
	if (it == concept_by_key_.end()) {
		return std::nullopt;
	}
	return it->second;
}

std::vector<const Record *>
Dataset::MediaGroup(const Record &record) const {
	std::vector<const Record *> members;
	auto it = group_by_url_.find(record.provider_url);
	if (it != group_by_url_.end()) {
		for (size_t index : groups_[it->second]) {
			members.push_back(&records_[index]);
		}
	}
	return members;
}

std::string
Dataset::ReadImage(size_t index) const {
	return ReadFile((fs::path(images_root_) / image_paths_.at(index)).string());
}

ImageFacts
Dataset::ImageInfo(size_t index) const {
	{
		std::lock_guard<std::mutex> lock(image_mutex_);
		if (image_facts_.at(index)) {
			return *image_facts_[index];
		}
	}
	std::string bytes = ReadImage(index);
	ImageFacts facts;
	facts.relative_path = image_paths_[index];
	facts.bytes = bytes.size();
	facts.sha256 = Sha256Hex(bytes);
	if (auto dims = JpegDimensions(bytes)) {
		facts.width = dims->width;
		facts.height = dims->height;
	}
	std::lock_guard<std::mutex> lock(image_mutex_);
	image_facts_[index] = facts;
	return facts;
}

} // namespace europeana::fake
