/*
 * query.hpp — the subset of Solr/Lucene query syntax the fake understands in `query` and `qf`: field
 * clauses (skos_concept:"URI", TYPE:IMAGE, RIGHTS:http://…*, DATA_PROVIDER:"…", COUNTRY:…, europeana_id:"…",
 * MEDIA:true, THUMBNAIL:true, provider_aggregation_edm_isShownBy:*, …), free-text words and phrases, `*` and `*:*`,
 * AND/OR/NOT (also && || ! + -), implicit AND between terms, parentheses and field groups such as
 * skos_concept:("a" OR "b").
 * An unknown field or a syntax error is reported the way Solr reports it, so the caller answers 400-SA.
 *
 * Thread-safe: parsing is pure; a parsed query is immutable and may be evaluated from any thread.
 */
#pragma once

#include "dataset.hpp"

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace europeana::fake {

struct QueryNode {
	enum class Kind { kAll, kAnd, kOr, kNot, kField, kText };
	Kind kind = Kind::kAll;
	std::vector<std::unique_ptr<QueryNode>> children;
	std::string field;
	std::string value;
	bool prefix = false;                 /* value ended with an unquoted '*' */
	std::optional<size_t> concept_index; /* resolved skos_concept value */
};

struct ParsedQuery {
	std::unique_ptr<QueryNode> root; /* null when error is set */
	std::string error;
};

/* ParseQuery parses one query or qf string; concept URIs are resolved against the dataset's vocabulary. */
ParsedQuery ParseQuery(std::string_view text, const Dataset &dataset);

/* Matches evaluates a parsed query against one record. */
bool Matches(const QueryNode &node, const Record &record);

} // namespace europeana::fake
