#include "common/auth/authorizer.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace vmle::auth {

std::vector<PolicyRule> DefaultPolicy() {
  const RoleSet submitter = RoleBit(Role::kSubmitter);
  const RoleSet reader = submitter | RoleBit(Role::kViewer);
  const RoleSet operators = RoleBit(Role::kOperator);
  std::vector<PolicyRule> rules;
  rules.push_back({"/vmle.v1.StudyService/UploadTranscript", operators, false});
  // Administration of the system of record: the agent, and operators (backups,
  // sharing cognition between clusters).
  for (const char* method : {"Backup", "GetStats", "ExportCognition", "ImportCognition"}) {
    rules.push_back({absl::StrCat("/vmle.v1.MemoryService/", method), RoleBit(Role::kAgent) | operators, false});
  }
  for (const char* method : {"GetStudy", "ListStudies", "ListTrials", "WatchStudy", "GetReport"}) {
    rules.push_back({absl::StrCat("/vmle.v1.StudyService/", method), reader, false});
  }
  rules.push_back({"/vmle.v1.StudyService/", submitter, false});
  rules.push_back({"/vmle.v1.TrialQueue/", RoleBit(Role::kWorker), false});
  rules.push_back({"/vmle.v1.MemoryService/", RoleBit(Role::kAgent), false});
  rules.push_back({"/grpc.health.v1.Health/", 0, true});
  rules.push_back({"/grpc.reflection.v1alpha.ServerReflection/", 0, true});
  rules.push_back({"/grpc.reflection.v1.ServerReflection/", 0, true});
  return rules;
}

Authorizer::Authorizer(TokenTable tokens, std::vector<PolicyRule> policy)
    : tokens_(std::move(tokens)), policy_(std::move(policy)) {}

const PolicyRule* Authorizer::RuleFor(absl::string_view method) const {
  for (const PolicyRule& rule : policy_) {
    if (rule.pattern == method) return &rule;
  }
  for (const PolicyRule& rule : policy_) {
    if (!rule.pattern.empty() && rule.pattern.back() == '/' && absl::StartsWith(method, rule.pattern)) {
      return &rule;
    }
  }
  return nullptr;
}

absl::Status Authorizer::Check(absl::string_view method, absl::string_view authorization) const {
  const PolicyRule* rule = RuleFor(method);
  if (rule != nullptr && rule->open) return absl::OkStatus();
  constexpr absl::string_view kScheme = "bearer ";
  if (authorization.empty()) {
    return absl::UnauthenticatedError(absl::StrCat(
        method, " needs `authorization: Bearer <token>` metadata (see --auth_token_file)"));
  }
  if (authorization.size() <= kScheme.size() ||
      !absl::EqualsIgnoreCase(authorization.substr(0, kScheme.size()), kScheme)) {
    return absl::UnauthenticatedError("authorization metadata must be `Bearer <token>`");
  }
  const absl::string_view token = absl::StripAsciiWhitespace(authorization.substr(kScheme.size()));
  const RoleSet roles = tokens_.Lookup(token);
  if (roles == 0) {
    return absl::UnauthenticatedError(absl::StrCat("unknown bearer token for ", method));
  }
  if (rule == nullptr || (rule->roles & roles) != 0) return absl::OkStatus();
  return absl::PermissionDeniedError(absl::StrCat("a ", RoleSetName(roles), " token may not call ", method,
                                                  "; it needs ", RoleSetName(rule->roles)));
}

}  // namespace vmle::auth
