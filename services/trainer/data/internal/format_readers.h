// Per-format parsers that turn a file into an InteractionLog. Internal; the
// public entry point is ReadDataset in readers.h, which documents the formats.
//
// Each parser reports malformed input as InvalidArgument "path:line: what was
// expected" and returns an empty log (not an error) for a file without
// interactions, leaving that verdict to Preprocess.
//
// Thread-safety: reentrant.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "services/trainer/data/internal/parse_util.h"
#include "services/trainer/data/preprocess.h"
#include "services/trainer/data/readers.h"
#include "services/trainer/util/status.h"

namespace vmle::trainer::internal {

StatusOr<InteractionLog> ReadSequentialLog(const std::string& path, const ReaderOptions& options);
StatusOr<InteractionLog> ReadAmazonJsonLog(const std::string& path, const ReaderOptions& options);
// kAmazon2023Csv, kRecBoleInter and kCsv.
StatusOr<InteractionLog> ReadDelimitedLog(const std::string& path, DatasetFormat format,
                                          const ReaderOptions& options);
StatusOr<InteractionLog> ReadMovieLensLog(const std::string& path, const ReaderOptions& options);

// Collects interactions with string keys, interning users and items in order
// of first appearance (the key-index order Preprocess relies on).
class LogBuilder {
 public:
  // False when a key space (int32) is exhausted.
  bool Add(std::string_view user, std::string_view item, int64_t timestamp);
  InteractionLog Finish() &&;

 private:
  KeyInterner users_;
  KeyInterner items_;
  std::vector<RawInteraction> interactions_;
};

// ResourceExhausted "path:line: too many distinct users or items".
Status TooManyKeysError(const std::string& path, int64_t line);

}  // namespace vmle::trainer::internal
