/*
 * query.cpp — tokenizer, recursive-descent parser and evaluator for the query subset described in query.hpp.
 *
 * Grammar (Lucene's standard parser with AND as the default operator, which is what Europeana configures):
 *   expr  := and ( (OR | "||") and )*
 *   and   := unary ( [AND | "&&"] unary )*
 *   unary := (NOT | "!" | "-") unary | "+" unary | "(" expr ")" | FIELD ":" "(" expr ")" | term
 *
 * Thread-safe: no shared state.
 */
#include "query.hpp"

#include "util.hpp"

#include <algorithm>
#include <cctype>
#include <set>

namespace europeana::fake {

namespace {

struct Token {
	enum class Kind { kWord, kOpen, kClose, kEnd };
	Kind kind = Kind::kEnd;
	std::string text;                 /* unescaped, quotes removed */
	size_t colon = std::string::npos; /* first unquoted, unescaped ':' in text */
	bool value_quoted = false;        /* the part after the colon (or the whole word) was quoted */
	bool trailing_star = false;       /* ends with an unquoted, unescaped '*' */
	bool bare = true;                 /* no quotes or escapes at all (so AND/OR/NOT are operators) */
};

const std::set<std::string, std::less<>> kKnownFields = {
    "skos_concept",
    "TYPE",
    "RIGHTS",
    "DATA_PROVIDER",
    "PROVIDER",
    "provider_aggregation_edm_dataProvider",
    "provider_aggregation_edm_provider",
    "COUNTRY",
    "LANGUAGE",
    "europeana_id",
    "europeana_collectionName",
    "edm_datasetName",
    "provider_aggregation_edm_isShownBy",
    "MEDIA",
    "has_media",
    "THUMBNAIL",
    "has_thumbnails",
    "YEAR",
    "MIME_TYPE",
    "IMAGE_SIZE",
    "IMAGE_COLOUR",
    "IMAGE_COLOR",
    "IMAGE_GREYSCALE",
    "IMAGE_GRAYSCALE",
    "IMAGE_ASPECTRATIO",
    "COLOURPALETTE",
    "COLORPALETTE",
    "SOUND_HQ",
    "SOUND_DURATION",
    "VIDEO_HD",
    "VIDEO_DURATION",
    "TEXT_FULLTEXT",
    "LANDINGPAGE",
    "title",
    "text",
    "what",
};

class Parser {
public:
	Parser(std::string_view text, const Dataset &dataset) : text_(text), dataset_(dataset) {
	}

	ParsedQuery
	Run() {
		ParsedQuery result;
		Advance();
		if (!error_.empty()) {
			result.error = error_;
			return result;
		}
		if (current_.kind == Token::Kind::kEnd) {
			result.error = "Cannot parse '': empty query";
			return result;
		}
		std::unique_ptr<QueryNode> root = ParseExpr("");
		if (error_.empty() && current_.kind != Token::Kind::kEnd) {
			error_ = "Cannot parse '" + std::string(text_) + "': Encountered \" \")\" \") \"\" at line 1";
		}
		if (!error_.empty()) {
			result.error = error_;
			return result;
		}
		result.root = std::move(root);
		return result;
	}

private:
	std::string_view text_;
	const Dataset &dataset_;
	size_t pos_ = 0;
	Token current_;
	std::string error_;

	void
	Fail(const std::string &message) {
		if (error_.empty()) {
			error_ = "Cannot parse '" + std::string(text_) + "': " + message;
		}
	}

	void
	Advance() {
		current_ = Token();
		while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) {
			pos_++;
		}
		if (pos_ >= text_.size()) {
			current_.kind = Token::Kind::kEnd;
			return;
		}
		char c = text_[pos_];
		if (c == '(' || c == ')') {
			current_.kind = c == '(' ? Token::Kind::kOpen : Token::Kind::kClose;
			pos_++;
			return;
		}
		current_.kind = Token::Kind::kWord;
		bool star_literal = false;
		while (pos_ < text_.size()) {
			c = text_[pos_];
			if (std::isspace(static_cast<unsigned char>(c)) || c == '(' || c == ')') {
				break;
			}
			if (c == '\\' && pos_ + 1 < text_.size()) {
				current_.text.push_back(text_[pos_ + 1]);
				current_.bare = false;
				star_literal = true;
				pos_ += 2;
				continue;
			}
			if (c == '"') {
				size_t close = pos_ + 1;
				std::string quoted;
				while (close < text_.size() && text_[close] != '"') {
					if (text_[close] == '\\' && close + 1 < text_.size()) {
						close++;
					}
					quoted.push_back(text_[close]);
					close++;
				}
				if (close >= text_.size()) {
					Fail("Lexical error: unterminated quoted string");
					current_.kind = Token::Kind::kEnd;
					return;
				}
				current_.text += quoted;
				current_.bare = false;
				if (current_.colon != std::string::npos || current_.text.size() == quoted.size()) {
					current_.value_quoted = true;
				}
				star_literal = true;
				pos_ = close + 1;
				continue;
			}
			if (c == ':' && current_.colon == std::string::npos) {
				current_.colon = current_.text.size();
			}
			current_.text.push_back(c);
			star_literal = false;
			pos_++;
		}
		current_.trailing_star = !current_.text.empty() && current_.text.back() == '*' && !star_literal;
	}

	bool
	IsOperator(const char *op) const {
		return current_.kind == Token::Kind::kWord && current_.bare && current_.text == op;
	}

	std::unique_ptr<QueryNode>
	Combine(QueryNode::Kind kind, std::vector<std::unique_ptr<QueryNode>> parts) {
		if (parts.size() == 1) {
			return std::move(parts[0]);
		}
		auto node = std::make_unique<QueryNode>();
		node->kind = kind;
		node->children = std::move(parts);
		return node;
	}

	std::unique_ptr<QueryNode>
	ParseExpr(const std::string &default_field) {
		std::vector<std::unique_ptr<QueryNode>> parts;
		parts.push_back(ParseAnd(default_field));
		while (error_.empty() && (IsOperator("OR") || IsOperator("||"))) {
			Advance();
			parts.push_back(ParseAnd(default_field));
		}
		return Combine(QueryNode::Kind::kOr, std::move(parts));
	}

	std::unique_ptr<QueryNode>
	ParseAnd(const std::string &default_field) {
		std::vector<std::unique_ptr<QueryNode>> parts;
		parts.push_back(ParseUnary(default_field));
		while (error_.empty() && current_.kind != Token::Kind::kEnd && current_.kind != Token::Kind::kClose &&
		       !IsOperator("OR") && !IsOperator("||")) {
			if (IsOperator("AND") || IsOperator("&&")) {
				Advance();
			}
			parts.push_back(ParseUnary(default_field));
		}
		return Combine(QueryNode::Kind::kAnd, std::move(parts));
	}

	std::unique_ptr<QueryNode>
	ParseUnary(const std::string &default_field) {
		if (!error_.empty()) {
			return std::make_unique<QueryNode>();
		}
		if (IsOperator("NOT") || IsOperator("!")) {
			Advance();
			auto node = std::make_unique<QueryNode>();
			node->kind = QueryNode::Kind::kNot;
			node->children.push_back(ParseUnary(default_field));
			return node;
		}
		if (current_.kind == Token::Kind::kWord && current_.bare && current_.text.size() > 1 &&
		    (current_.text[0] == '-' || current_.text[0] == '+')) {
			bool negate = current_.text[0] == '-';
			current_.text.erase(0, 1);
			if (current_.colon != std::string::npos) {
				current_.colon--;
			}
			std::unique_ptr<QueryNode> inner = ParseUnary(default_field);
			if (!negate) {
				return inner;
			}
			auto node = std::make_unique<QueryNode>();
			node->kind = QueryNode::Kind::kNot;
			node->children.push_back(std::move(inner));
			return node;
		}
		if (current_.kind == Token::Kind::kOpen) {
			Advance();
			std::unique_ptr<QueryNode> inner = ParseExpr(default_field);
			if (current_.kind != Token::Kind::kClose) {
				Fail("Encountered \"<EOF>\": expected \")\"");
				return inner;
			}
			Advance();
			return inner;
		}
		if (current_.kind != Token::Kind::kWord) {
			Fail("Encountered \" \")\" \") \"\" at line 1");
			return std::make_unique<QueryNode>();
		}
		Token token = current_;
		Advance();
		if (token.colon != std::string::npos && token.colon + 1 == token.text.size() && !token.value_quoted) {
			/* FIELD:( … ) — a group whose bare terms belong to FIELD. */
			std::string field = token.text.substr(0, token.colon);
			if (current_.kind != Token::Kind::kOpen) {
				Fail("Encountered \"<EOF>\" after \"" + token.text + "\"");
				return std::make_unique<QueryNode>();
			}
			if (!CheckField(field)) {
				return std::make_unique<QueryNode>();
			}
			Advance();
			std::unique_ptr<QueryNode> inner = ParseExpr(field);
			if (current_.kind != Token::Kind::kClose) {
				Fail("Encountered \"<EOF>\": expected \")\"");
				return inner;
			}
			Advance();
			return inner;
		}
		return MakeTerm(token, default_field);
	}

	bool
	CheckField(const std::string &field) {
		if (kKnownFields.count(field) == 0) {
			error_ = "undefined field " + field;
			return false;
		}
		return true;
	}

	std::unique_ptr<QueryNode>
	MakeTerm(const Token &token, const std::string &default_field) {
		auto node = std::make_unique<QueryNode>();
		if (token.text == "*" || token.text == "*:*") {
			node->kind = QueryNode::Kind::kAll;
			return node;
		}
		std::string field = default_field;
		std::string value = token.text;
		if (token.colon != std::string::npos) {
			field = token.text.substr(0, token.colon);
			value = token.text.substr(token.colon + 1);
		}
		node->prefix = token.trailing_star;
		if (node->prefix) {
			value.pop_back();
		}
		if (field.empty()) {
			node->kind = QueryNode::Kind::kText;
			node->value = ToLower(value);
			return node;
		}
		if (!CheckField(field)) {
			return node;
		}
		node->kind = QueryNode::Kind::kField;
		node->field = field;
		node->value = value;
		if (field == "skos_concept" && !(node->prefix && value.empty())) {
			node->concept_index = dataset_.FindConcept(value);
		}
		return node;
	}
};

bool
ValueMatches(const QueryNode &node, const std::string &candidate) {
	if (node.prefix) {
		return StartsWith(candidate, node.value);
	}
	return candidate == node.value;
}

bool
FieldMatches(const QueryNode &node, const Record &record) {
	const std::string &field = node.field;
	bool any = node.prefix && node.value.empty();
	if (field == "skos_concept") {
		if (any) {
			return !record.concepts.empty();
		}
		return node.concept_index &&
		       std::find(record.concepts.begin(), record.concepts.end(), *node.concept_index) != record.concepts.end();
	}
	if (field == "TYPE") {
		return ValueMatches(node, "IMAGE");
	}
	if (field == "RIGHTS") {
		return ValueMatches(node, record.rights);
	}
	if (field == "DATA_PROVIDER" || field == "provider_aggregation_edm_dataProvider") {
		return ValueMatches(node, record.data_provider);
	}
	if (field == "PROVIDER" || field == "provider_aggregation_edm_provider") {
		return ValueMatches(node, record.provider);
	}
	if (field == "COUNTRY") {
		return ToLower(record.country) == ToLower(node.value) || (any && !record.country.empty());
	}
	if (field == "LANGUAGE") {
		return ValueMatches(node, record.language);
	}
	if (field == "europeana_id") {
		return ValueMatches(node, record.id);
	}
	if (field == "europeana_collectionName" || field == "edm_datasetName") {
		return ValueMatches(node, record.dataset_name);
	}
	if (field == "provider_aggregation_edm_isShownBy") {
		return record.has_is_shown_by && (any || ValueMatches(node, record.provider_url));
	}
	if (field == "MEDIA" || field == "has_media") {
		return any || ToLower(node.value) == "true"; /* every record has media (edmIsShownBy or hasView) */
	}
	if (field == "THUMBNAIL" || field == "has_thumbnails") {
		return any || (ToLower(node.value) == "true") == record.has_thumbnail;
	}
	if (field == "MIME_TYPE") {
		return ValueMatches(node, "image/jpeg");
	}
	if (StartsWith(field, "IMAGE_") || field == "COLOURPALETTE" || field == "COLORPALETTE" || field == "LANDINGPAGE") {
		return true; /* accepted but not modelled: every record passes */
	}
	if (StartsWith(field, "SOUND_") || StartsWith(field, "VIDEO_") || field == "TEXT_FULLTEXT") {
		return any || ToLower(node.value) == "false"; /* images only, no full text */
	}
	if (field == "YEAR") {
		return std::any_of(record.years.begin(), record.years.end(),
		                   [&](const std::string &year) { return ValueMatches(node, year); });
	}
	/* title, text, what: free text restricted to nothing finer than the whole record. */
	return any || record.search_text.find(ToLower(node.value)) != std::string::npos;
}

} // namespace

ParsedQuery
ParseQuery(std::string_view text, const Dataset &dataset) {
	return Parser(text, dataset).Run();
}

bool
Matches(const QueryNode &node, const Record &record) {
	switch (node.kind) {
	case QueryNode::Kind::kAll:
		return true;
	case QueryNode::Kind::kAnd:
		return std::all_of(node.children.begin(), node.children.end(),
		                   [&](const std::unique_ptr<QueryNode> &child) { return Matches(*child, record); });
	case QueryNode::Kind::kOr:
		return std::any_of(node.children.begin(), node.children.end(),
		                   [&](const std::unique_ptr<QueryNode> &child) { return Matches(*child, record); });
	case QueryNode::Kind::kNot:
		return !Matches(*node.children[0], record);
	case QueryNode::Kind::kField:
		return FieldMatches(node, record);
	case QueryNode::Kind::kText:
		return node.value.empty() || record.search_text.find(node.value) != std::string::npos;
	}
	return false;
}

} // namespace europeana::fake
