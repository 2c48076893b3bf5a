// Delimited-record reading with optional RFC 4180 quoting. Internal.
//
// With quoting on, a field that starts with '"' is quoted: it ends at the next
// '"' not followed by another '"', "" stands for one '"', and delimiters and
// line breaks inside it are data. A quote in the middle of an unquoted field
// is kept literally (a common deviation of real writers). Blank lines are
// skipped. Trailing '\r' of each physical line is dropped (by LineReader).
//
// Thread-safety: not thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "services/trainer/data/internal/line_reader.h"
#include "services/trainer/util/status.h"

namespace vmle::trainer::internal {

class CsvReader {
 public:
  // `lines` must outlive the reader.
  CsvReader(LineReader* lines, char delimiter, bool quoting);

  // Reads the next non-blank record; the views stay valid until the next
  // call. False at the end or on an error; then status() tells which.
  bool Next(std::vector<std::string_view>* fields);

  // 1-based line on which the record last returned starts.
  int64_t record_line() const { return record_line_; }
  const Status& status() const { return status_; }

 private:
  bool ParseQuoted(std::string_view line, std::vector<std::string_view>* fields);
  void SplitPlain(std::string_view line, std::vector<std::string_view>* fields) const;

  LineReader* lines_;
  char delimiter_;
  bool quoting_;
  int64_t record_line_ = 0;
  std::string storage_;         // decoded fields of a quoted record
  std::vector<size_t> bounds_;  // field i is storage_[bounds_[2i], bounds_[2i+1])
  Status status_;
};

// Index of the field equal to `name` (after trimming spaces) in `header`, or -1.
int FindColumn(const std::vector<std::string_view>& header, std::string_view name);

}  // namespace vmle::trainer::internal
