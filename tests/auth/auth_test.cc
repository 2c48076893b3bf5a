// The token table (both file layouts, its refusals) and the method -> role policy.
#include <filesystem>
#include <cstdlib>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/auth/authorizer.h"
#include "common/auth/client_channel.h"
#include "common/auth/token_table.h"
#include "absl/strings/str_cat.h"

namespace vmle::auth {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kSubmit[] = "submit-token-0123456789";
constexpr char kView[] = "viewer-token-0123456789";
constexpr char kWork[] = "worker-token-0123456789";
constexpr char kAgent[] = "agent-token-01234567890";

std::string TempDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "auth_test.XXXXXX").string();
  return mkdtemp(pattern.data());
}

Authorizer MakeAuthorizer() {
  auto tokens = TokenTable::Parse(absl::StrCat("# tokens\nsubmitter ", kSubmit, "\nviewer ", kView,
                                               "\n\nworker\t", kWork, "\nagent ", kAgent, "\n"),
                                  "tokens");
  EXPECT_TRUE(tokens.ok()) << tokens.status();
  return Authorizer(*std::move(tokens), DefaultPolicy());
}

std::string Bearer(const std::string& token) { return "Bearer " + token; }

TEST(TokenTableTest, ParsesRoleTokenLinesAndMergesRolesOfOneToken) {
  auto table = TokenTable::Parse(absl::StrCat("submitter ", kSubmit, "\nviewer ", kSubmit, "\n"), "f");
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(table->size(), 1u);
  EXPECT_EQ(table->Lookup(kSubmit), RoleBit(Role::kSubmitter) | RoleBit(Role::kViewer));
  EXPECT_EQ(table->Lookup("submit-token-012345678"), 0) << "a prefix is not the token";
  EXPECT_EQ(table->Lookup(""), 0);
}

TEST(TokenTableTest, RefusesBadLinesNamingTheLineButNotTheToken) {
  auto role = TokenTable::Parse("admin secret-secret-secret-1\n", "tokens.txt");
  EXPECT_EQ(role.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(role.status().message(), HasSubstr("tokens.txt:1: unknown role 'admin'"));
  EXPECT_THAT(role.status().message(), Not(HasSubstr("secret-secret")));

  auto short_token = TokenTable::Parse("\nviewer shorty\n", "tokens.txt");
  EXPECT_EQ(short_token.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(short_token.status().message(), HasSubstr("tokens.txt:2: token shorter than 16"));
  EXPECT_THAT(short_token.status().message(), Not(HasSubstr("shorty")));

  auto fields = TokenTable::Parse("viewer a-token-that-is-long enough\n", "t");
  EXPECT_EQ(fields.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(TokenTableTest, LoadsAFileOrADirectoryWithOneFilePerRole) {
  const std::string dir = TempDir();
  std::ofstream(dir + "/tokens") << "worker " << kWork << "\n";
  auto file = TokenTable::Load(dir + "/tokens");
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->Lookup(kWork), RoleBit(Role::kWorker));

  // A mounted Kubernetes Secret: one file per key, plus entries to ignore.
  std::filesystem::create_directories(dir + "/secret/..data");
  std::ofstream(dir + "/secret/submitter") << kSubmit << "\n";
  std::ofstream(dir + "/secret/agent") << kAgent;
  std::ofstream(dir + "/secret/llm_api_key") << "not-a-role-token-at-all";
  auto secret = TokenTable::Load(dir + "/secret");
  ASSERT_TRUE(secret.ok()) << secret.status();
  EXPECT_EQ(secret->size(), 2u);
  EXPECT_EQ(secret->Lookup(kAgent), RoleBit(Role::kAgent));
  EXPECT_EQ(secret->Lookup("not-a-role-token-at-all"), 0);

  std::ofstream(dir + "/empty") << "# nothing yet\n";
  EXPECT_EQ(TokenTable::Load(dir + "/empty").status().code(), absl::StatusCode::kInvalidArgument)
      << "a file without tokens must not turn authentication off";
  EXPECT_EQ(TokenTable::Load(dir + "/missing").status().code(), absl::StatusCode::kInvalidArgument);
  std::filesystem::remove_all(dir);
}

TEST(AuthorizerTest, MissingMalformedOrUnknownTokensAreUnauthenticated) {
  const Authorizer authorizer = MakeAuthorizer();
  const std::string method = "/vmle.v1.StudyService/GetStudy";
  EXPECT_EQ(authorizer.Check(method, "").code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(authorizer.Check(method, kView).code(), absl::StatusCode::kUnauthenticated) << "no scheme";
  EXPECT_EQ(authorizer.Check(method, "Basic dXNlcjpwYXNz").code(), absl::StatusCode::kUnauthenticated);
  const absl::Status unknown = authorizer.Check(method, Bearer("guessed-token-0123456789"));
  EXPECT_EQ(unknown.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(unknown.message(), Not(HasSubstr("guessed")));
  EXPECT_TRUE(authorizer.Check(method, "bearer " + std::string(kView)).ok()) << "scheme is case-blind";
}

TEST(AuthorizerTest, EachServiceAdmitsItsRolesOnly) {
  const Authorizer authorizer = MakeAuthorizer();
  struct Case {
    const char* method;
    const char* token;
    absl::StatusCode code;
  };
  const Case cases[] = {
      {"/vmle.v1.StudyService/SubmitStudy", kSubmit, absl::StatusCode::kOk},
      {"/vmle.v1.StudyService/CancelStudy", kSubmit, absl::StatusCode::kOk},
      {"/vmle.v1.StudyService/SubmitStudy", kView, absl::StatusCode::kPermissionDenied},
      {"/vmle.v1.StudyService/CancelStudy", kView, absl::StatusCode::kPermissionDenied},
      {"/vmle.v1.StudyService/ResumeStudy", kView, absl::StatusCode::kPermissionDenied},
      {"/vmle.v1.StudyService/GetStudy", kView, absl::StatusCode::kOk},
      {"/vmle.v1.StudyService/ListStudies", kView, absl::StatusCode::kOk},
      {"/vmle.v1.StudyService/ListTrials", kView, absl::StatusCode::kOk},
      {"/vmle.v1.StudyService/WatchStudy", kView, absl::StatusCode::kOk},
      {"/vmle.v1.StudyService/GetReport", kView, absl::StatusCode::kOk},
      {"/vmle.v1.StudyService/GetStudy", kWork, absl::StatusCode::kPermissionDenied},
      {"/vmle.v1.TrialQueue/LeaseTrial", kWork, absl::StatusCode::kOk},
      {"/vmle.v1.TrialQueue/CompleteTrial", kSubmit, absl::StatusCode::kPermissionDenied},
      {"/vmle.v1.MemoryService/PutStudy", kAgent, absl::StatusCode::kOk},
      {"/vmle.v1.MemoryService/GetStudy", kSubmit, absl::StatusCode::kPermissionDenied},
      {"/vmle.v1.MemoryService/Backup", kWork, absl::StatusCode::kPermissionDenied},
      {"/vmle.v1.Unknown/Method", kView, absl::StatusCode::kOk},
  };
  for (const Case& c : cases) {
    const absl::Status status = authorizer.Check(c.method, Bearer(c.token));
    EXPECT_EQ(status.code(), c.code) << c.method << " " << status;
  }
  const absl::Status denied = authorizer.Check("/vmle.v1.StudyService/SubmitStudy", Bearer(kView));
  EXPECT_THAT(denied.message(), HasSubstr("viewer token may not call /vmle.v1.StudyService/SubmitStudy"));
  EXPECT_THAT(denied.message(), Not(HasSubstr(kView)));
}

TEST(AuthorizerTest, HealthAndReflectionNeedNoToken) {
  const Authorizer authorizer = MakeAuthorizer();
  EXPECT_TRUE(authorizer.Check("/grpc.health.v1.Health/Check", "").ok());
  EXPECT_TRUE(authorizer.Check("/grpc.health.v1.Health/Watch", "Bearer nonsense").ok());
  EXPECT_TRUE(authorizer.Check("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", "").ok());
  EXPECT_EQ(authorizer.Check("/vmle.v1.Unknown/Method", "").code(), absl::StatusCode::kUnauthenticated);
}

TEST(ClientSecurityTest, LoadsTrimmedTokenAndRefusesHalfAClientIdentity) {
  const std::string dir = TempDir();
  std::ofstream(dir + "/token") << "  " << kWork << "\n";
  ClientSecurityOptions options;
  options.token_file = dir + "/token";
  auto loaded = LoadClientSecurity(options);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->token, kWork);
  EXPECT_FALSE(loaded->tls);

  std::ofstream(dir + "/blank") << "\n";
  options.token_file = dir + "/blank";
  EXPECT_EQ(LoadClientSecurity(options).status().code(), absl::StatusCode::kInvalidArgument);
  options.token_file.clear();
  options.tls_cert_file = dir + "/token";
  EXPECT_EQ(LoadClientSecurity(options).status().code(), absl::StatusCode::kInvalidArgument);
  options.tls_cert_file.clear();
  options.tls_ca_file = dir + "/missing.pem";
  auto missing = LoadClientSecurity(options);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(missing.status().message(), HasSubstr("missing.pem"));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace vmle::auth
