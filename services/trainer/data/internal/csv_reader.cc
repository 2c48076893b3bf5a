#include "services/trainer/data/internal/csv_reader.h"

#include "services/trainer/data/internal/parse_util.h"

namespace vmle::trainer::internal {

CsvReader::CsvReader(LineReader* lines, char delimiter, bool quoting)
    : lines_(lines), delimiter_(delimiter), quoting_(quoting) {}

bool CsvReader::Next(std::vector<std::string_view>* fields) {
  std::string_view line;
  do {
    if (!lines_->Next(&line)) {
      status_ = lines_->status();
      return false;
    }
  } while (TrimSpaces(line).empty());
  record_line_ = lines_->line_number();
  fields->clear();
  if (quoting_ && line.find('"') != std::string_view::npos) {
    return ParseQuoted(line, fields);
  }
  SplitPlain(line, fields);
  return true;
}

void CsvReader::SplitPlain(std::string_view line, std::vector<std::string_view>* fields) const {
  for (;;) {
    const size_t cut = line.find(delimiter_);
    fields->push_back(line.substr(0, cut));
    if (cut == std::string_view::npos) return;
    line.remove_prefix(cut + 1);
  }
}

// Decodes a record containing quotes into storage_, pulling continuation lines
// while a quoted field is open.
bool CsvReader::ParseQuoted(std::string_view line, std::vector<std::string_view>* fields) {
  storage_.clear();
  bounds_.clear();
  size_t i = 0;
  for (;;) {  // one field per iteration
    bounds_.push_back(storage_.size());
    if (i < line.size() && line[i] == '"') {
      ++i;
      for (;;) {
        if (i == line.size()) {  // a line break inside the quotes
          if (!lines_->Next(&line)) {
            status_ = lines_->status().ok()
                          ? LineError(lines_->path(), record_line_,
                                      "unterminated quoted field (missing closing '\"')")
                          : lines_->status();
            return false;
          }
          if (storage_.size() + line.size() >= lines_->max_line_bytes()) {
            status_ =
                LineError(lines_->path(), record_line_,
                          "quoted field longer than " + std::to_string(lines_->max_line_bytes()) +
                              " bytes (missing closing '\"'?)");
            return false;
          }
          storage_ += '\n';
          i = 0;
          continue;
        }
        const char c = line[i++];
        if (c != '"') {
          storage_ += c;
        } else if (i < line.size() && line[i] == '"') {
          storage_ += '"';
          ++i;
        } else {
          break;
        }
      }
      if (i < line.size() && line[i] != delimiter_) {
        status_ = LineError(lines_->path(), lines_->line_number(),
                            "expected a delimiter after a closing quote, got " +
                                QuoteForMessage(line.substr(i, 1)));
        return false;
      }
    } else {
      while (i < line.size() && line[i] != delimiter_) storage_ += line[i++];
    }
    bounds_.push_back(storage_.size());
    if (i >= line.size()) break;
    ++i;  // the delimiter
  }
  for (size_t f = 0; f + 1 < bounds_.size(); f += 2) {
    fields->push_back(std::string_view(storage_).substr(bounds_[f], bounds_[f + 1] - bounds_[f]));
  }
  return true;
}

int FindColumn(const std::vector<std::string_view>& header, std::string_view name) {
  for (size_t i = 0; i < header.size(); ++i) {
    if (TrimSpaces(header[i]) == name) return static_cast<int>(i);
  }
  return -1;
}

}  // namespace vmle::trainer::internal
