// Starts each real service binary, talks to it the way grpcurl and Prometheus do,
// and stops it with SIGTERM.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "google/protobuf/descriptor.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "tests/util/subprocess.h"

namespace vmle {
namespace {

using namespace std::chrono_literals;
using grpc::reflection::v1alpha::ServerReflection;
using grpc::reflection::v1alpha::ServerReflectionRequest;
using grpc::reflection::v1alpha::ServerReflectionResponse;

struct Binary {
  std::string name;                // test name
  std::string path;                // relative to the build directory
  std::vector<std::string> flags;  // service-specific flags; {dir} is the temp dir
};

// The binary's own flags, with {dir} replaced.
std::vector<std::string> OwnFlags(const Binary& binary, const std::string& dir) {
  std::vector<std::string> flags;
  for (std::string f : binary.flags) {
    if (auto pos = f.find("{dir}"); pos != std::string::npos) f.replace(pos, 5, dir);
    flags.push_back(f);
  }
  return flags;
}

void PrintTo(const Binary& binary, std::ostream* os) { *os << binary.name; }

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class ServiceBinaryTest : public ::testing::TestWithParam<Binary> {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir();
    std::vector<std::string> argv = {std::string(VMLE_BINARY_DIR) + "/" + GetParam().path,
                                     "--listen=127.0.0.1:0", "--metrics=127.0.0.1:0",
                                     "--ready_file=" + dir_ + "/ready.json",
                                     "--shutdown_grace_seconds=2"};
    for (const std::string& f : OwnFlags(GetParam(), dir_)) argv.push_back(f);
    auto process = testing::Subprocess::Start(argv, dir_ + "/log.txt");
    ASSERT_TRUE(process.ok()) << process.status();
    process_.emplace(std::move(*process));
    auto ready = testing::WaitForReadyFile(dir_ + "/ready.json", 30s);
    ASSERT_TRUE(ready.ok()) << ready.status() << "\n" << Slurp(dir_ + "/log.txt");
    ready_ = *ready;
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(ready_.grpc_port),
                                   grpc::InsecureChannelCredentials());
  }

  // One reflection exchange, as grpcurl does it.
  ServerReflectionResponse Reflect(const ServerReflectionRequest& request) {
    auto stub = ServerReflection::NewStub(channel_);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 10s);
    auto stream = stub->ServerReflectionInfo(&context);
    ServerReflectionResponse response;
    EXPECT_TRUE(stream->Write(request));
    EXPECT_TRUE(stream->Read(&response));
    stream->WritesDone();
    EXPECT_TRUE(stream->Finish().ok());
    return response;
  }

  std::string dir_;
  std::optional<testing::Subprocess> process_;
  testing::ReadyInfo ready_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_P(ServiceBinaryTest, ServesHealthReflectionAndMetricsThenStopsOnSigterm) {
  // Health, as a Kubernetes probe or `vmle health` asks it.
  auto health = grpc::health::v1::Health::NewStub(channel_);
  grpc::ClientContext health_context;
  health_context.set_deadline(std::chrono::system_clock::now() + 10s);
  grpc::health::v1::HealthCheckResponse health_response;
  ASSERT_TRUE(health->Check(&health_context, {}, &health_response).ok());
  EXPECT_EQ(health_response.status(), grpc::health::v1::HealthCheckResponse::SERVING);

  // Reflection: list the services, then fetch the descriptor of one (grpcurl
  // list / describe).
  ServerReflectionRequest list;
  list.set_list_services("*");
  const ServerReflectionResponse listed = Reflect(list);
  ASSERT_TRUE(listed.has_list_services_response());
  std::set<std::string> services;
  for (const auto& s : listed.list_services_response().service()) services.insert(s.name());
  EXPECT_TRUE(services.count("grpc.health.v1.Health")) << listed.DebugString();
  EXPECT_TRUE(services.count("grpc.reflection.v1alpha.ServerReflection"));

  ServerReflectionRequest describe;
  describe.set_file_containing_symbol("grpc.reflection.v1alpha.ServerReflection");
  const ServerReflectionResponse described = Reflect(describe);
  ASSERT_TRUE(described.has_file_descriptor_response()) << described.DebugString();
  ASSERT_GT(described.file_descriptor_response().file_descriptor_proto_size(), 0);
  google::protobuf::FileDescriptorProto file;
  ASSERT_TRUE(file.ParseFromString(described.file_descriptor_response().file_descriptor_proto(0)));
  EXPECT_EQ(file.package(), "grpc.reflection.v1alpha");
  ASSERT_GT(file.service_size(), 0);
  EXPECT_EQ(file.service(0).name(), "ServerReflection");

  // Metrics: the calls just made are counted by method and code.
  auto body = testing::HttpGet(ready_.metrics_port, "/metrics");
  ASSERT_TRUE(body.ok()) << body.status();
  const std::regex health_ok(
      R"(vmle_grpc_server_handled_total\{grpc_code="OK",grpc_method="Check",grpc_service="grpc.health.v1.Health"\} ([0-9.e+]+))");
  std::smatch match;
  ASSERT_TRUE(std::regex_search(*body, match, health_ok)) << *body;
  EXPECT_GE(std::stod(match[1]), 1.0);
  const std::regex reflection_ok(
      R"(vmle_grpc_server_handled_total\{grpc_code="OK",grpc_method="ServerReflectionInfo",grpc_service="grpc.reflection.v1alpha.ServerReflection"\} ([0-9.e+]+))");
  ASSERT_TRUE(std::regex_search(*body, match, reflection_ok)) << *body;
  EXPECT_GE(std::stod(match[1]), 2.0);
  EXPECT_NE(body->find("vmle_grpc_server_handling_seconds_bucket"), std::string::npos);
  EXPECT_NE(body->find("vmle_build_info"), std::string::npos);

  // Graceful shutdown.
  process_->Signal(SIGTERM);
  const auto status = process_->Wait(30s);
  ASSERT_TRUE(status.has_value()) << "did not exit after SIGTERM";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << Slurp(dir_ + "/log.txt");
  EXPECT_NE(Slurp(dir_ + "/log.txt").find("msg=stopped"), std::string::npos);
  EXPECT_FALSE(std::ifstream(dir_ + "/ready.json").good()) << "ready file left behind";
}

TEST_P(ServiceBinaryTest, SecondInstanceOnTheSamePortFailsWithAClearMessage) {
  const std::string dir = testing::MakeTempDir();
  std::vector<std::string> argv = {std::string(VMLE_BINARY_DIR) + "/" + GetParam().path,
                                   "--listen=127.0.0.1:" + std::to_string(ready_.grpc_port),
                                   "--metrics=127.0.0.1:0"};
  for (const std::string& f : OwnFlags(GetParam(), dir)) argv.push_back(f);
  auto second = testing::Subprocess::Start(argv, dir + "/log.txt");
  ASSERT_TRUE(second.ok());
  const auto status = second->Wait(30s);
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 1);
  EXPECT_NE(Slurp(dir + "/log.txt").find("cannot serve gRPC"), std::string::npos)
      << Slurp(dir + "/log.txt");
}

TEST_P(ServiceBinaryTest, BadLogLevelIsRefusedAtStartup) {
  const std::string dir = testing::MakeTempDir();
  auto bad = testing::Subprocess::Start({std::string(VMLE_BINARY_DIR) + "/" + GetParam().path,
                                         "--listen=127.0.0.1:0", "--metrics=off",
                                         "--log_level=loud"},
                                        dir + "/log.txt");
  ASSERT_TRUE(bad.ok());
  const auto status = bad->Wait(30s);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(WEXITSTATUS(*status), 1);
  EXPECT_NE(Slurp(dir + "/log.txt").find("debug, info, warn or error"), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(
    Services, ServiceBinaryTest,
    ::testing::Values(Binary{"agent", "services/agent/vmle-agent", {"--memory=127.0.0.1:1"}},
                      Binary{"memory", "services/memory/vmle-memory", {"--db={dir}/db"}},
                      Binary{"worker", "services/trainer/worker/vmle-worker",
                             {"--agent=127.0.0.1:1", "--data_root={dir}"}}),
    [](const ::testing::TestParamInfo<Binary>& info) { return info.param.name; });

}  // namespace
}  // namespace vmle
