// Bearer tokens by role, loaded from files (Kubernetes Secrets mount as files).
//
// Two layouts, chosen by what the path is:
//   * a file of `role token` lines; blank lines and lines starting with '#' are
//     skipped; a token may appear under several roles;
//   * a directory holding one file per role, named after it (`submitter`, `viewer`,
//     `worker`, `agent`, `operator`), with one token per line — what a Secret with those keys
//     looks like when mounted. Other entries (`..data`, unrelated keys) are ignored.
// Tokens must be at least kMinTokenLength characters of printable ASCII without
// spaces. Errors (INVALID_ARGUMENT) name the file and line, never the token.
//
// Lookup compares against every entry in constant time per entry, so a caller
// cannot learn a token's prefix from response timing. Immutable once loaded;
// thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include "absl/strings/string_view.h"
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace vmle::auth {

enum class Role : uint8_t { kSubmitter = 0, kViewer = 1, kWorker = 2, kAgent = 3, kOperator = 4 };

// A set of roles as a bit mask (bit i = Role i).
using RoleSet = uint8_t;
constexpr RoleSet RoleBit(Role role) { return static_cast<RoleSet>(1u << static_cast<int>(role)); }

// "submitter", "viewer", "worker", "agent", "operator".
absl::string_view RoleName(Role role);
std::optional<Role> ParseRole(absl::string_view name);
// "submitter|viewer"; "none" for an empty set.
std::string RoleSetName(RoleSet roles);

inline constexpr size_t kMinTokenLength = 16;

class TokenTable {
 public:
  // An empty table (authentication off).
  TokenTable() = default;
  // Loads `path` in either layout above. A path that holds no token at all is an
  // error: a mistyped secret must not turn authentication off.
  static absl::StatusOr<TokenTable> Load(const std::string& path);
  // From `role token` lines; `source` names the text in errors.
  static absl::StatusOr<TokenTable> Parse(absl::string_view text, absl::string_view source);

  bool empty() const { return entries_.empty(); }
  size_t size() const { return entries_.size(); }
  // The roles of `token`, 0 when it is unknown.
  RoleSet Lookup(absl::string_view token) const;

 private:
  absl::Status Add(Role role, absl::string_view token, absl::string_view where);

  std::vector<std::pair<std::string, RoleSet>> entries_;
};

}  // namespace vmle::auth
