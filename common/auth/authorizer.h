// Who may call what: a method -> role policy checked against the bearer token of
// each call (gRPC metadata `authorization: Bearer <token>`).
//
// The default policy (DefaultPolicy):
//   /vmle.v1.StudyService/*                         submitter
//   .../GetStudy, ListStudies, ListTrials, WatchStudy, GetReport   also viewer
//   /vmle.v1.TrialQueue/*                           worker
//   /vmle.v1.MemoryService/*                        agent
//   /grpc.health.v1.Health/*, server reflection     open (no token needed)
//   anything else                                   any valid token
// Errors: UNAUTHENTICATED when the token is missing, malformed or unknown;
// PERMISSION_DENIED when it is valid but its roles may not call the method. Messages
// name the method and the roles, never the token. Immutable; thread-safe.
#pragma once

#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/status.h"
#include "common/auth/token_table.h"

namespace vmle::auth {

struct PolicyRule {
  // A full method name ("/pkg.Service/Method") or, ending in '/', a service prefix.
  std::string pattern;
  // Roles allowed; ignored when `open`.
  RoleSet roles = 0;
  // No token needed.
  bool open = false;
};

// The rules above, exact methods before service prefixes.
std::vector<PolicyRule> DefaultPolicy();

class Authorizer {
 public:
  // `tokens` must not be empty (an empty table means authentication is off and no
  // Authorizer is built).
  Authorizer(TokenTable tokens, std::vector<PolicyRule> policy);

  // May the holder of `authorization` (the header's value, empty if absent) call
  // `method`? OK, UNAUTHENTICATED or PERMISSION_DENIED as above.
  absl::Status Check(absl::string_view method, absl::string_view authorization) const;

 private:
  const PolicyRule* RuleFor(absl::string_view method) const;

  TokenTable tokens_;
  std::vector<PolicyRule> policy_;
};

}  // namespace vmle::auth
