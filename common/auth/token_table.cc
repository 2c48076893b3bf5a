#include "common/auth/token_table.h"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status/status_macros.h"

namespace vmle::auth {
namespace {

constexpr absl::string_view kRoleNames[] = {"submitter", "viewer", "worker", "agent", "operator"};
constexpr int kRoles = static_cast<int>(std::size(kRoleNames));

bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

absl::StatusOr<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat("cannot read tokens file '", path, "'"));
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

}  // namespace

absl::string_view RoleName(Role role) { return kRoleNames[static_cast<int>(role)]; }

std::optional<Role> ParseRole(absl::string_view name) {
  for (int i = 0; i < kRoles; ++i) {
    if (kRoleNames[i] == name) return static_cast<Role>(i);
  }
  return std::nullopt;
}

std::string RoleSetName(RoleSet roles) {
  std::string out;
  for (int i = 0; i < kRoles; ++i) {
    if (roles & RoleBit(static_cast<Role>(i))) absl::StrAppend(&out, out.empty() ? "" : "|", kRoleNames[i]);
  }
  return out.empty() ? "none" : out;
}

absl::Status TokenTable::Add(Role role, absl::string_view token, absl::string_view where) {
  if (token.size() < kMinTokenLength) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": token shorter than ", kMinTokenLength, " characters"));
  }
  for (char c : token) {
    if (c <= ' ' || c > '~') {
      return absl::InvalidArgumentError(absl::StrCat(where, ": token has a non-printable character"));
    }
  }
  for (auto& [known, roles] : entries_) {
    if (known == token) {
      roles |= RoleBit(role);
      return absl::OkStatus();
    }
  }
  entries_.emplace_back(std::string(token), RoleBit(role));
  return absl::OkStatus();
}

absl::StatusOr<TokenTable> TokenTable::Parse(absl::string_view text, absl::string_view source) {
  TokenTable table;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    const std::string where = absl::StrCat(source, ":", line_number);
    std::vector<absl::string_view> fields = absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (fields.size() != 2) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": expected `role token`"));
    }
    const std::optional<Role> role = ParseRole(fields[0]);
    if (!role) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": unknown role '", fields[0], "' (submitter, viewer, worker or agent)"));
    }
    RETURN_IF_ERROR(table.Add(*role, fields[1], where));
  }
  return table;
}

absl::StatusOr<TokenTable> TokenTable::Load(const std::string& path) {
  std::error_code error;
  TokenTable table;
  if (std::filesystem::is_directory(path, error)) {
    for (absl::string_view name : kRoleNames) {
      const std::string file = (std::filesystem::path(path) / std::string(name)).string();
      if (!std::filesystem::exists(file, error)) continue;
      ASSIGN_OR_RETURN(std::string text, ReadWholeFile(file));
      int line_number = 0;
      for (absl::string_view line : absl::StrSplit(text, '\n')) {
        ++line_number;
        line = absl::StripAsciiWhitespace(line);
        if (line.empty() || line[0] == '#') continue;
        RETURN_IF_ERROR(table.Add(*ParseRole(name), line, absl::StrCat(file, ":", line_number)));
      }
    }
  } else {
    ASSIGN_OR_RETURN(std::string text, ReadWholeFile(path));
    ASSIGN_OR_RETURN(table, Parse(text, path));
  }
  if (table.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tokens file '", path, "' holds no token; give none to turn authentication off"));
  }
  return table;
}

RoleSet TokenTable::Lookup(absl::string_view token) const {
  RoleSet found = 0;
  for (const auto& [known, roles] : entries_) {
    if (ConstantTimeEquals(known, token)) found |= roles;
  }
  return found;
}

}  // namespace vmle::auth
