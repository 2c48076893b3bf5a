// Reading datasets from files.
//
// ReadDataset parses one file in one of the formats below, then runs the
// preprocessing pipeline of preprocess.h (k-core, stable time sort,
// truncation, dense re-indexing from 1). Every format may be gzip-compressed: gzip
// is recognised by its magic bytes, not by the file name.
//
// Formats:
//  kSequential      `user i1 i2 ...` per line, whitespace-separated positive
//                   integer ids in time order (the processed S3-Rec files). One
//                   line per user (a second line for a user is an error); blank
//                   lines and users without items are skipped. Users and items are
//                   re-indexed monotonically (sorted by their numeric id), so an
//                   already-dense file keeps its ids.
//  kAmazon2014Json  one JSON object per line with string fields reviewerID and
//                   asin and integer unixReviewTime; other fields (nested ones
//                   too) are skipped. Also reads the 2018 release.
//  kAmazon2023Csv   CSV with a header naming user_id, parent_asin (or asin) and
//                   timestamp (any unit, e.g. milliseconds).
//  kRecBoleInter    tab-separated atomic file whose header names fields as
//                   `name:type`; uses user_id, item_id and, when present,
//                   timestamp (integer or float; fractions are truncated).
//  kMovieLensDat    `user::item::rating::timestamp` with positive integer user
//                   and item ids (MovieLens 1M/10M ratings.dat).
//  kCsv             CSV with a header row; columns named by ReaderOptions.
// kAmazon2023Csv and kCsv accept RFC 4180 quoting (quoted delimiters, line
// breaks and doubled quotes); kRecBoleInter splits on tabs only, as RecBole
// does. Header names are matched after trimming spaces; a UTF-8 byte order
// mark is ignored. In every format other than kSequential, users and items are
// opaque keys; users are numbered in order of first appearance in the file and
// items in order of first appearance in the time-sorted sequences.
//
// Errors: NotFound for a missing file, PermissionDenied when it cannot be read,
// InvalidArgument for malformed input, naming the file, the 1-based line and
// what was expected (`Beauty.txt:17: expected a positive integer item id, got
// "abc"`), FailedPrecondition, with a hint, when no interaction is left after
// filtering (or the file holds none), ResourceExhausted beyond 2^31 - 1
// distinct users or items, Unimplemented for gzip input in a build without
// zlib. Throws nothing but std::bad_alloc; memory per line
// is bounded by ReaderOptions::max_line_bytes.
//
// Thread-safety: ReadDataset is reentrant.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "services/trainer/data/dataset.h"
#include "services/trainer/util/status.h"

namespace vmle::trainer {

enum class DatasetFormat {
  kSequential,
  kAmazon2014Json,
  kAmazon2023Csv,
  kRecBoleInter,
  kMovieLensDat,
  kCsv,
};

// Accepts (case-insensitively) "seq"/"sequential", "amazon2014"/"amazon-json",
// "amazon2023"/"amazon-csv", "recbole"/"inter", "movielens"/"ml", "csv";
// InvalidArgument listing the accepted names otherwise.
StatusOr<DatasetFormat> ParseDatasetFormat(std::string_view name);

// Canonical name of `format` ("sequential", "amazon2014", ...), accepted by
// ParseDatasetFormat.
const char* DatasetFormatName(DatasetFormat format);

struct ReaderOptions {
  // kCsv only: header names of the columns to read.
  std::string user_column = "user_id";
  std::string item_column = "item_id";
  std::string time_column = "timestamp";  // empty: no time column, file order
  char delimiter = ',';                   // kCsv only; must not be '"' or a newline

  // All formats (see preprocess.h for the exact pipeline). The processed
  // sequential files are already filtered, hence no k-core by default.
  int k_core = 0;      // users and items need >= k_core interactions; 0 = none
  int max_length = 0;  // keep each user's last max_length items; 0 = all
  int min_length = 0;  // drop users with fewer items (before truncation); 0 = none
  // Lines (CSV records) longer than this are rejected as malformed.
  int64_t max_line_bytes = int64_t{64} << 20;
};

// Reads `path` in `format`; see the header comment for the contract.
StatusOr<Dataset> ReadDataset(const std::string& path, DatasetFormat format,
                              const ReaderOptions& options = ReaderOptions());

}  // namespace vmle::trainer
