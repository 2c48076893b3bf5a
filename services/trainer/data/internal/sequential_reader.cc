// The processed sequential format: `user i1 i2 ...` per line.

#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>

#include "services/trainer/data/internal/format_readers.h"
#include "services/trainer/data/internal/line_reader.h"

namespace vmle::trainer::internal {
namespace {

struct UserLine {
  int64_t user;  // numeric id in the file
  int64_t line;  // 1-based line number
  size_t begin;  // items in ParsedFile::items[begin, end)
  size_t end;
};

struct ParsedFile {
  std::vector<UserLine> users;
  std::vector<int64_t> items;  // numeric ids, all lines concatenated
};

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

// Next whitespace-separated token of `*rest`, consumed; empty at the end.
std::string_view NextToken(std::string_view* rest) {
  size_t i = 0;
  while (i < rest->size() && IsSpace((*rest)[i])) ++i;
  size_t j = i;
  while (j < rest->size() && !IsSpace((*rest)[j])) ++j;
  const std::string_view token = rest->substr(i, j - i);
  rest->remove_prefix(j);
  return token;
}

Status ParseLine(std::string_view text, const LineReader& lines, ParsedFile* file) {
  if (lines.line_number() == 1) text = StripBom(text);
  std::string_view token = NextToken(&text);
  if (token.empty()) return OkStatus();
  int64_t user = 0;
  if (!ParsePositiveInt64(token, &user)) {
    return LineError(lines.path(), lines.line_number(),
                     "expected a positive integer user id, got " + QuoteForMessage(token));
  }
  const size_t begin = file->items.size();
  while (!(token = NextToken(&text)).empty()) {
    int64_t item = 0;
    if (!ParsePositiveInt64(token, &item)) {
      return LineError(lines.path(), lines.line_number(),
                       "expected a positive integer item id, got " + QuoteForMessage(token));
    }
    file->items.push_back(item);
  }
  if (file->items.size() > begin) {
    file->users.push_back({user, lines.line_number(), begin, file->items.size()});
  }
  return OkStatus();
}

// Sorts users by numeric id; InvalidArgument when one appears on two lines.
Status SortUsers(const std::string& path, std::vector<UserLine>* users) {
  std::sort(users->begin(), users->end(), [](const UserLine& a, const UserLine& b) {
    return a.user != b.user ? a.user < b.user : a.line < b.line;
  });
  for (size_t k = 1; k < users->size(); ++k) {
    const UserLine& first = (*users)[k - 1];
    const UserLine& again = (*users)[k];
    if (first.user == again.user) {
      return LineError(path, again.line,
                       "user " + std::to_string(again.user) + " already appeared on line " +
                           std::to_string(first.line) +
                           "; the sequential format has one line per user");
    }
  }
  return OkStatus();
}

StatusOr<InteractionLog> BuildLog(const std::string& path, ParsedFile file) {
  TRAINER_RETURN_IF_ERROR(SortUsers(path, &file.users));
  std::vector<int64_t> keys = file.items;
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  constexpr size_t kMaxKeys = static_cast<size_t>(std::numeric_limits<int32_t>::max());
  if (keys.size() > kMaxKeys || file.users.size() > kMaxKeys) {
    return ResourceExhaustedError(path + ": too many distinct users or items");
  }
  InteractionLog log;
  log.num_user_keys = static_cast<int32_t>(file.users.size());
  log.num_item_keys = static_cast<int32_t>(keys.size());
  log.item_order = ItemIdOrder::kKeyIndex;
  log.interactions.reserve(file.items.size());
  for (size_t u = 0; u < file.users.size(); ++u) {
    const UserLine& line = file.users[u];
    for (size_t k = line.begin; k < line.end; ++k) {
      const auto key = std::lower_bound(keys.begin(), keys.end(), file.items[k]);
      log.interactions.push_back({static_cast<int32_t>(u), static_cast<int32_t>(key - keys.begin()),
                                  static_cast<int64_t>(k - line.begin)});
    }
  }
  return log;
}

}  // namespace

StatusOr<InteractionLog> ReadSequentialLog(const std::string& path, const ReaderOptions& options) {
  TRAINER_ASSIGN_OR_RETURN(std::unique_ptr<LineReader> lines,
                           LineReader::Open(path, options.max_line_bytes));
  ParsedFile file;
  std::string_view text;
  while (lines->Next(&text)) {
    TRAINER_RETURN_IF_ERROR(ParseLine(text, *lines, &file));
  }
  TRAINER_RETURN_IF_ERROR(lines->status());
  return BuildLog(path, std::move(file));
}

}  // namespace vmle::trainer::internal
