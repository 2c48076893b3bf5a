// Amazon review dumps (2014 and 2018 releases): one JSON object per line.

#include <memory>

#include "services/trainer/data/internal/format_readers.h"
#include "services/trainer/data/internal/json_scanner.h"
#include "services/trainer/data/internal/line_reader.h"

namespace vmle::trainer::internal {
namespace {

constexpr std::string_view kUserField = "reviewerID";
constexpr std::string_view kItemField = "asin";
constexpr std::string_view kTimeField = "unixReviewTime";

// The last top-level member named `name`, or nullptr.
const JsonMember* FindMember(const std::vector<JsonMember>& members, std::string_view name,
                             std::string* scratch) {
  const JsonMember* found = nullptr;
  for (const JsonMember& member : members) {
    std::string_view key = member.key;
    if (key.find('\\') != std::string_view::npos && DecodeJsonString(key, scratch)) {
      key = *scratch;
    }
    if (key == name) found = &member;
  }
  return found;
}

class JsonLineParser {
 public:
  explicit JsonLineParser(const LineReader* lines) : lines_(lines) {}

  Status Parse(std::string_view text, LogBuilder* builder) {
    members_.clear();
    std::string error;
    if (!ScanJsonObject(text, &members_, &error)) return Error(error);
    TRAINER_RETURN_IF_ERROR(StringField(kUserField, &user_));
    TRAINER_RETURN_IF_ERROR(StringField(kItemField, &item_));
    int64_t time = 0;
    TRAINER_RETURN_IF_ERROR(TimeField(&time));
    if (!builder->Add(user_, item_, time)) {
      return TooManyKeysError(lines_->path(), lines_->line_number());
    }
    return OkStatus();
  }

 private:
  Status Error(const std::string& what) const {
    return LineError(lines_->path(), lines_->line_number(), what);
  }

  Status StringField(std::string_view name, std::string* out) {
    const JsonMember* member = FindMember(members_, name, &scratch_);
    const std::string quoted = "\"" + std::string(name) + "\"";
    if (member == nullptr) return Error("expected a field " + quoted);
    if (member->type != JsonType::kString) {
      return Error("expected a string for " + quoted + ", got " + QuoteForMessage(member->value));
    }
    if (!DecodeJsonString(member->value, out)) {
      return Error("invalid escape sequence in the string for " + quoted);
    }
    if (out->empty()) return Error("expected a non-empty string for " + quoted);
    return OkStatus();
  }

  // An integer, or a string holding one (seen in some re-exports).
  Status TimeField(int64_t* time) {
    const JsonMember* member = FindMember(members_, kTimeField, &scratch_);
    const std::string quoted = "\"" + std::string(kTimeField) + "\"";
    if (member == nullptr) return Error("expected a field " + quoted);
    const bool numeric = member->type == JsonType::kNumber || member->type == JsonType::kString;
    if (!numeric || !ParseTimestamp(member->value, time)) {
      return Error("expected an integer timestamp for " + quoted + ", got " +
                   QuoteForMessage(member->value));
    }
    return OkStatus();
  }

  const LineReader* lines_;
  std::vector<JsonMember> members_;
  std::string user_;
  std::string item_;
  std::string scratch_;
};

}  // namespace

StatusOr<InteractionLog> ReadAmazonJsonLog(const std::string& path, const ReaderOptions& options) {
  TRAINER_ASSIGN_OR_RETURN(std::unique_ptr<LineReader> lines,
                           LineReader::Open(path, options.max_line_bytes));
  LogBuilder builder;
  JsonLineParser parser(lines.get());
  std::string_view text;
  while (lines->Next(&text)) {
    if (lines->line_number() == 1) text = StripBom(text);
    if (TrimSpaces(text).empty()) continue;
    TRAINER_RETURN_IF_ERROR(parser.Parse(text, &builder));
  }
  TRAINER_RETURN_IF_ERROR(lines->status());
  return std::move(builder).Finish();
}

}  // namespace vmle::trainer::internal
