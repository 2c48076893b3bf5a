// A minimal scanner for one-line JSON objects (the Amazon review dumps). Internal.
//
// It finds the top-level members of an object without building a document:
// nested objects and arrays are skipped by bracket matching, strings are
// located but only decoded on request. Iterative (no recursion), so deeply
// nested input cannot overflow the stack. Numbers are checked only for their
// characters; contents of nested values only for bracket and string structure.
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace vmle::trainer::internal {

enum class JsonType { kString, kNumber, kLiteral, kObject, kArray };

struct JsonMember {
  std::string_view key;  // raw text between the quotes, escapes not decoded
  JsonType type = JsonType::kLiteral;
  std::string_view value;  // kString: raw text between the quotes; else the token
};

// Scans `text` as exactly one JSON object (surrounding whitespace allowed) and
// appends its top-level members to `*members`. On failure returns false and
// sets `*error` to what was expected and where ("column N").
bool ScanJsonObject(std::string_view text, std::vector<JsonMember>* members, std::string* error);

// Decodes the raw body of a JSON string (escapes, \uXXXX with surrogate pairs)
// into UTF-8 in `*out`. A lone surrogate becomes U+FFFD. False on an invalid
// escape.
bool DecodeJsonString(std::string_view raw, std::string* out);

}  // namespace vmle::trainer::internal
