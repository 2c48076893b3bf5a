// The README's role table is the policy: every method of every service compiled
// into the API, and server reflection, has a row, and each role's outcome in the row
// is what the Authorizer decides. A new RPC without a row, or a policy change
// without the README's, fails here.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/auth/authorizer.h"
#include "common/auth/token_table.h"
#include "google/protobuf/descriptor.h"
#include "grpc/health/v1/health.pb.h"
#include "vmle/v1/memory_service.pb.h"
#include "vmle/v1/study_service.pb.h"
#include "vmle/v1/trial_queue.pb.h"

namespace vmle::auth {
namespace {

// Columns after the method: submitter, viewer, worker, agent, operator, no token.
const std::vector<std::string> kTokens = {"Bearer submit-token-0123456789", "Bearer viewer-token-0123456789",
                                          "Bearer worker-token-0123456789", "Bearer agent-token-01234567890",
                                          "Bearer operator-token-0123456789", ""};

// method -> "yes"/"no" per column, from README's rows "| `/pkg.Service/Method` | ... |".
std::map<std::string, std::vector<std::string>> ReadmeTable() {
  std::ifstream in(std::string(VMLE_SOURCE_DIR) + "/README.md");
  std::map<std::string, std::vector<std::string>> table;
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("| `/", 0) != 0) continue;
    std::vector<std::string> cells;
    for (absl::string_view cell : absl::StrSplit(line, '|', absl::SkipWhitespace())) {
      cells.emplace_back(absl::StripAsciiWhitespace(cell));
    }
    if (cells.size() != 7) continue;
    const std::string method(absl::StripSuffix(absl::StripPrefix(cells[0], "`"), "`"));
    table[method] = {cells.begin() + 1, cells.end()};
  }
  return table;
}

// Every method of every service of the API's proto files.
std::vector<std::string> EveryMethod() {
  std::vector<std::string> out;
  for (const google::protobuf::FileDescriptor* file :
       {vmle::v1::SubmitStudyRequest::descriptor()->file(), vmle::v1::LeaseTrialRequest::descriptor()->file(),
        vmle::v1::PutStudyRequest::descriptor()->file(), grpc::health::v1::HealthCheckRequest::descriptor()->file()}) {
    for (int s = 0; s < file->service_count(); ++s) {
      const google::protobuf::ServiceDescriptor* service = file->service(s);
      for (int m = 0; m < service->method_count(); ++m) {
        out.push_back(absl::StrCat("/", service->full_name(), "/", service->method(m)->name()));
      }
    }
  }
  out.push_back("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo");
  return out;
}

TEST(RoleTableTest, EveryMethodHasARowAndEachRoleGetsWhatTheRowSays) {
  auto tokens = TokenTable::Parse(
      "submitter submit-token-0123456789\nviewer viewer-token-0123456789\n"
      "worker worker-token-0123456789\nagent agent-token-01234567890\noperator operator-token-0123456789\n",
      "tokens");
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  const Authorizer authorizer(*std::move(tokens), DefaultPolicy());
  const auto table = ReadmeTable();
  const std::vector<std::string> methods = EveryMethod();
  ASSERT_GT(methods.size(), 30u);
  for (const std::string& method : methods) {
    auto row = table.find(method);
    if (row == table.end()) {
      ADD_FAILURE() << method << " has no row in README's role table (section Security)";
      continue;
    }
    for (size_t column = 0; column < kTokens.size(); ++column) {
      const absl::Status status = authorizer.Check(method, kTokens[column]);
      const std::string outcome = status.ok() ? "yes" : "no";
      EXPECT_EQ(outcome, row->second[column]) << method << " column " << column + 1 << ": " << status;
      if (!status.ok()) {
        EXPECT_TRUE(absl::IsPermissionDenied(status) || absl::IsUnauthenticated(status)) << status;
      }
    }
  }
  // And no row names a method that does not exist.
  for (const auto& [method, cells] : table) {
    EXPECT_NE(std::find(methods.begin(), methods.end(), method), methods.end())
        << "README's role table names " << method << ", which no service has";
  }
}

}  // namespace
}  // namespace vmle::auth
