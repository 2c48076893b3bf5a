// The exchange format of cognition summaries, so a team can share what its studies
// learned or seed a new cluster: one JSON document in the protobuf JSON mapping of
// CognitionExport,
//   {"format": "vmle.cognition.v1", "summaries": [{"id": "cs-...", ...}, ...]}
// with proto field names (snake_case) and map entries in key order, so the same
// summaries always print the same document. Parsing then printing, or printing then
// parsing, gives the same summaries exactly (doubles round-trip, timestamps keep their
// nanoseconds). Pure functions, thread-safe.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "vmle/v1/memory.pb.h"

namespace vmle::memory {

inline constexpr char kCognitionFormat[] = "vmle.cognition.v1";

// The document for `summaries`, indented for humans and diffs.
absl::StatusOr<std::string> CognitionToJson(const std::vector<v1::CognitionSummary>& summaries);

// The summaries of a document. INVALID_ARGUMENT for malformed JSON, unknown fields, or
// a format other than kCognitionFormat; the summaries themselves are not validated here.
absl::StatusOr<std::vector<v1::CognitionSummary>> CognitionFromJson(absl::string_view json);

}  // namespace vmle::memory
