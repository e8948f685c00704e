/*
 * dataset.hpp — the fake server's catalogue: the pilot's labelled record list (CSV), its concept vocabulary (JSON)
 * and a directory of real JPEG photos, turned into deterministic Europeana items.  Every generated attribute (rights,
 * country, title, timestamps, whether edmIsShownBy or a stored thumbnail exists, which photo is served) is a pure
 * function of the record id, so two runs over the same inputs describe exactly the same records.
 *
 * Thread-safe after construction: the catalogue is immutable; the per-photo facts cache has its own mutex.
 */
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace europeana::fake {

struct Concept {
	std::string name;           /* vocabulary key, e.g. "photograph" */
	std::string label;          /* English label, e.g. "Photograph" */
	std::string vocabulary_uri; /* as written in vocabulary.json (…/concept/base/48 or a Getty AAT URI) */
	std::string edm_uri;        /* as current items carry it (…/concept/48; AAT URIs unchanged) */
};

struct Record {
	std::string id; /* "/dataset/local", the europeana_id */
	std::string dataset;
	std::string local;
	std::vector<size_t> concepts; /* indices into Dataset::Concepts(), in CSV order */
	std::string provider_url;     /* the provider's edmIsShownBy URL from the CSV */
	std::string media_key;        /* host[:port]/path[?query] of provider_url: the part after /media/ */
	std::string media_owner;      /* lowest id sharing provider_url; the photo and media fault follow it */
	std::string rights;
	std::string reusability; /* open, restricted, permission or uncategorized (§11, http scheme only) */
	std::string country;
	std::string country_code;
	std::string language;
	std::string data_provider;
	std::string provider;
	std::string dataset_name;
	std::string title;
	std::string title_language; /* ISO code or "def" */
	bool title_duplicated = false;
	std::string description; /* empty when absent */
	std::string creator;     /* empty when absent; sometimes an agent URI */
	std::vector<std::string> years;
	int completeness = 0;
	int64_t created_ms = 0;
	int64_t updated_ms = 0;
	double score = 0;
	bool has_is_shown_by = true;
	bool has_thumbnail = true;
	bool has_dimensions = true;
	size_t image_index = 0;
	std::string search_text; /* lower-case words a free-text query matches */
};

struct DatasetOptions {
	std::string records_csv;
	std::string vocabulary_json;
	std::string images_dir;
	int no_is_shown_by_pct = 3;
	int no_thumbnail_pct = 5;
};

struct ImageFacts {
	std::string relative_path;
	size_t bytes = 0;
	std::string sha256;
	int width = 0;
	int height = 0;
};

/* ConceptKey maps both Europeana concept URI forms (…/concept/base/NN and …/concept/NN) to one key. */
std::string ConceptKey(std::string_view uri);

/* ReusabilityOf classifies a rights URI by §11's http prefixes; https variants are "uncategorized". */
std::string ReusabilityOf(std::string_view rights);

class Dataset {
public:
	/* Loads and derives everything; throws std::runtime_error with a readable message on bad input. */
	explicit Dataset(const DatasetOptions &options);

	const std::vector<Concept> &
	Concepts() const {
		return concepts_;
	}
	const std::vector<Record> &
	Records() const {
		return records_;
	}
	const Record *FindById(std::string_view id) const;
	/* FindByMediaKey looks the key up verbatim, then percent-decoded (clients may re-encode URLs). */
	const Record *FindByMediaKey(std::string_view key) const;
	const Record *FindByProviderUrl(std::string_view url) const;
	std::optional<size_t> FindConcept(std::string_view uri) const;
	/* MediaGroup lists every record (owner first) that shares the record's provider URL. */
	std::vector<const Record *> MediaGroup(const Record &record) const;

	size_t
	ImageCount() const {
		return image_paths_.size();
	}
	/* ReadImage returns the photo's bytes (read from disk on every call, so the page cache does the caching). */
	std::string ReadImage(size_t index) const;
	/* ImageInfo reads and digests the photo once, then answers from a cache. */
	ImageFacts ImageInfo(size_t index) const;

	size_t csv_rows = 0;
	size_t skipped_rows = 0;
	size_t duplicate_rows = 0;

private:
	std::vector<Concept> concepts_;
	std::map<std::string, size_t, std::less<>> concept_by_key_;
	std::vector<Record> records_;
	std::unordered_map<std::string, size_t> record_by_id_;
	std::unordered_map<std::string, size_t> group_by_key_;
	std::unordered_map<std::string, size_t> group_by_decoded_key_;
	std::unordered_map<std::string, size_t> group_by_url_;
	std::vector<std::vector<size_t>> groups_;
	std::string images_root_;
	std::vector<std::string> image_paths_;
	mutable std::mutex image_mutex_;
	mutable std::vector<std::optional<ImageFacts>> image_facts_;
};

} // namespace europeana::fake
