// Header-driven delimited formats (generic CSV, Amazon 2023 CSV, RecBole
// .inter) and MovieLens ratings.dat.

#include <algorithm>
#include <memory>

#include "services/trainer/data/internal/csv_reader.h"
#include "services/trainer/data/internal/format_readers.h"
#include "services/trainer/data/internal/line_reader.h"

namespace vmle::trainer::internal {
namespace {

// Where the needed values are in each record, and their header names.
struct Columns {
  int user = -1;
  int item = -1;
  int time = -1;  // -1: no time column, file order
  std::string user_name, item_name, time_name;
};

std::string ListHeader(const std::vector<std::string_view>& header) {
  std::string out;
  for (size_t i = 0; i < header.size() && i < 20; ++i) {
    if (i > 0) out += ", ";
    out += QuoteForMessage(TrimSpaces(header[i]));
  }
  if (header.size() > 20) out += ", ...";
  return out;
}

// RecBole headers name fields `name:type`; returns the index of `name`, or -1.
int FindRecBoleColumn(const std::vector<std::string_view>& header, std::string_view name) {
  for (size_t i = 0; i < header.size(); ++i) {
    const std::string_view field = TrimSpaces(header[i]);
    if (field.substr(0, field.find(':')) == name) return static_cast<int>(i);
  }
  return -1;
}

Status MissingColumn(const std::string& path, int64_t line, const std::string& name,
                     const std::vector<std::string_view>& header, const char* hint) {
  return LineError(path, line,
                   "expected a header with a column " + QuoteForMessage(name) + ", found " +
                       ListHeader(header) + hint);
}

using ColumnFinder = int (*)(const std::vector<std::string_view>&, std::string_view);

// Columns named `user`, `item` and `time` (empty: none) in `header`.
Columns Locate(const std::vector<std::string_view>& header, ColumnFinder find, std::string user,
               std::string item, std::string time) {
  Columns c;
  c.user = find(header, user);
  c.item = find(header, item);
  c.time = time.empty() ? -1 : find(header, time);
  c.user_name = std::move(user);
  c.item_name = std::move(item);
  c.time_name = std::move(time);
  return c;
}

StatusOr<Columns> ResolveColumns(const std::string& path, int64_t line, DatasetFormat format,
                                 const ReaderOptions& options,
                                 const std::vector<std::string_view>& header) {
  Columns c;
  if (format == DatasetFormat::kRecBoleInter) {
    c = Locate(header, FindRecBoleColumn, "user_id", "item_id", "timestamp");  // time optional
  } else if (format == DatasetFormat::kAmazon2023Csv) {
    c = Locate(header, FindColumn, "user_id", "parent_asin", "timestamp");
    if (c.item < 0 && (c.item = FindColumn(header, "asin")) >= 0) c.item_name = "asin";
    if (c.time < 0) return MissingColumn(path, line, c.time_name, header, "");
  } else {
    c = Locate(header, FindColumn, options.user_column, options.item_column, options.time_column);
    if (!c.time_name.empty() && c.time < 0) {
      return MissingColumn(path, line, c.time_name, header,
                           "; set time_column to the right name, or empty for file order");
    }
  }
  if (c.user < 0) return MissingColumn(path, line, c.user_name, header, "");
  if (c.item < 0) return MissingColumn(path, line, c.item_name, header, "");
  return c;
}

class RecordParser {
 public:
  RecordParser(const std::string& path, Columns columns)
      : path_(path),
        columns_(std::move(columns)),
        needed_(static_cast<size_t>(std::max({columns_.user, columns_.item, columns_.time})) + 1) {}

  Status Parse(const std::vector<std::string_view>& fields, int64_t line,
               LogBuilder* builder) const {
    if (fields.size() < needed_) {
      return LineError(path_, line,
                       "expected at least " + std::to_string(needed_) + " fields, got " +
                           std::to_string(fields.size()));
    }
    const std::string_view user = fields[static_cast<size_t>(columns_.user)];
    const std::string_view item = fields[static_cast<size_t>(columns_.item)];
    if (user.empty()) return Empty(line, columns_.user_name);
    if (item.empty()) return Empty(line, columns_.item_name);
    int64_t time = 0;
    if (columns_.time >= 0) {
      const std::string_view text = fields[static_cast<size_t>(columns_.time)];
      if (!ParseTimestamp(text, &time)) {
        return LineError(path_, line,
                         "expected a numeric timestamp in column " +
                             QuoteForMessage(columns_.time_name) + ", got " +
                             QuoteForMessage(text));
      }
    }
    if (!builder->Add(user, item, time)) return TooManyKeysError(path_, line);
    return OkStatus();
  }

 private:
  Status Empty(int64_t line, const std::string& column) const {
    return LineError(path_, line,
                     "expected a non-empty value in column " + QuoteForMessage(column));
  }

  const std::string& path_;
  Columns columns_;
  size_t needed_;
};

Status ValidateDelimiter(char delimiter) {
  if (delimiter == '"' || delimiter == '\n' || delimiter == '\r' || delimiter == '\0') {
    return InvalidArgumentError(
        "delimiter must not be '\"', a line break or NUL; use e.g. ',', ';' or '\\t'");
  }
  return OkStatus();
}

Status ParseMovieLensLine(std::string_view line, const LineReader& lines, LogBuilder* builder) {
  std::string_view fields[4];
  std::string_view rest = line;
  size_t n = 0;
  for (; n < 4; ++n) {
    const size_t cut = rest.find("::");
    fields[n] = rest.substr(0, cut);
    if (cut == std::string_view::npos) break;
    rest.remove_prefix(cut + 2);
  }
  auto error = [&](const std::string& expected, std::string_view got) {
    return LineError(lines.path(), lines.line_number(),
                     "expected " + expected + ", got " + QuoteForMessage(got));
  };
  if (n != 3) return error("user::item::rating::timestamp", line);
  int64_t id = 0;
  int64_t time = 0;
  if (!ParsePositiveInt64(fields[0], &id)) return error("a positive integer user id", fields[0]);
  if (!ParsePositiveInt64(fields[1], &id)) return error("a positive integer item id", fields[1]);
  if (!ParseTimestamp(fields[3], &time)) return error("an integer timestamp", fields[3]);
  if (!builder->Add(fields[0], fields[1], time)) {
    return TooManyKeysError(lines.path(), lines.line_number());
  }
  return OkStatus();
}

}  // namespace

StatusOr<InteractionLog> ReadDelimitedLog(const std::string& path, DatasetFormat format,
                                          const ReaderOptions& options) {
  const bool recbole = format == DatasetFormat::kRecBoleInter;
  const char delimiter = recbole ? '\t' : format == DatasetFormat::kCsv ? options.delimiter : ',';
  TRAINER_RETURN_IF_ERROR(ValidateDelimiter(delimiter));
  TRAINER_ASSIGN_OR_RETURN(std::unique_ptr<LineReader> lines,
                           LineReader::Open(path, options.max_line_bytes));
  CsvReader records(lines.get(), delimiter, /*quoting=*/!recbole);
  std::vector<std::string_view> fields;
  LogBuilder builder;
  if (!records.Next(&fields)) {
    TRAINER_RETURN_IF_ERROR(records.status());
    return std::move(builder).Finish();
  }
  if (!fields.empty()) fields[0] = StripBom(fields[0]);
  TRAINER_ASSIGN_OR_RETURN(Columns columns,
                           ResolveColumns(path, records.record_line(), format, options, fields));
  const RecordParser parser(path, std::move(columns));
  while (records.Next(&fields)) {
    TRAINER_RETURN_IF_ERROR(parser.Parse(fields, records.record_line(), &builder));
  }
  TRAINER_RETURN_IF_ERROR(records.status());
  return std::move(builder).Finish();
}

StatusOr<InteractionLog> ReadMovieLensLog(const std::string& path, const ReaderOptions& options) {
  TRAINER_ASSIGN_OR_RETURN(std::unique_ptr<LineReader> lines,
                           LineReader::Open(path, options.max_line_bytes));
  LogBuilder builder;
  std::string_view text;
  while (lines->Next(&text)) {
    if (lines->line_number() == 1) text = StripBom(text);
    if (TrimSpaces(text).empty()) continue;
    TRAINER_RETURN_IF_ERROR(ParseMovieLensLine(text, *lines, &builder));
  }
  TRAINER_RETURN_IF_ERROR(lines->status());
  return std::move(builder).Finish();
}

}  // namespace vmle::trainer::internal
