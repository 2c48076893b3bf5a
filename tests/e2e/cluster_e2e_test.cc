// End to end, as a user runs it: vmle-memory, vmle-agent and two vmle-worker
// processes on loopback, a study submitted and watched through the public API; and
// `vmle tune` doing the same in one process. Real training on small synthetic data.
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "tests/util/subprocess.h"
#include "vmle/v1/study_service.grpc.pb.h"

namespace vmle {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

std::string Bin(const std::string& path) { return std::string(VMLE_BINARY_DIR) + "/" + path; }

// A small, fast study on synthetic data: 2 epochs of a 16-wide model.
vmle::v1::StudySpec SmallSpec(int trials, int parallel) {
  vmle::v1::StudySpec spec;
  spec.set_name("e2e");
  spec.mutable_dataset()->set_format(vmle::v1::DATASET_FORMAT_SYNTHETIC);
  spec.mutable_dataset()->set_synthetic_users(300);
  spec.mutable_dataset()->set_synthetic_items(120);
  spec.mutable_budget()->set_max_trials(trials);
  spec.mutable_budget()->set_parallelism(parallel);
  spec.mutable_planner()->set_name("random_default");
  auto& fixed = *spec.mutable_fixed()->mutable_values();
  fixed["max_epochs"].set_int_value(2);
  fixed["hidden_dim"].set_int_value(16);
  fixed["num_negatives"].set_int_value(32);
  return spec;
}

class ClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir();
    std::filesystem::create_directories(dir_ + "/data");
    Start("memory", "services/memory/vmle-memory", {"--db=" + dir_ + "/db"}, &memory_, &memory_port_);
    Start("agent", "services/agent/vmle-agent",
          {absl::StrCat("--memory=127.0.0.1:", memory_port_), "--lease_seconds=20", "--heartbeat_seconds=2"}, &agent_,
          &agent_port_);
    for (int i = 0; i < 2; ++i) {
      Start(absl::StrCat("worker", i), "services/trainer/worker/vmle-worker",
            {absl::StrCat("--agent=127.0.0.1:", agent_port_), "--data_root=" + dir_ + "/data", "--threads=1",
             absl::StrCat("--worker_id=e2e-", i), "--lease_wait_seconds=2"},
            &workers_[i], &worker_ports_[i]);
    }
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", agent_port_), grpc::InsecureChannelCredentials());
    studies_ = vmle::v1::StudyService::NewStub(channel_);
  }

  void Start(const std::string& name, const std::string& binary, std::vector<std::string> flags,
             std::optional<testing::Subprocess>* slot, int* port) {
    std::vector<std::string> argv = {Bin(binary), "--listen=127.0.0.1:0", "--metrics=off"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    auto service = testing::StartService(argv, dir_, name, 60s);
    ASSERT_TRUE(service.ok()) << service.status();
    slot->emplace(std::move(service->process));
    *port = service->ready.grpc_port;
  }

  grpc::Status Submit(const vmle::v1::StudySpec& spec, vmle::v1::Study* study) {
    grpc::Status status;
    for (int i = 0; i < 100; ++i) {  // the agent answers UNAVAILABLE while it loads
      grpc::ClientContext context;
      vmle::v1::SubmitStudyRequest request;
      *request.mutable_spec() = spec;
      status = studies_->SubmitStudy(&context, request, study);
      if (status.error_code() != grpc::StatusCode::UNAVAILABLE) return status;
      absl::SleepFor(absl::Milliseconds(100));
    }
    return status;
  }

  // Watches the study to its end through WatchStudy; returns the events.
  std::vector<vmle::v1::StudyEvent> Watch(const std::string& id) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 400s);
    vmle::v1::WatchStudyRequest request;
    request.set_study_id(id);
    auto reader = studies_->WatchStudy(&context, request);
    std::vector<vmle::v1::StudyEvent> events;
    vmle::v1::StudyEvent e;
    while (reader->Read(&e)) events.push_back(e);
    const grpc::Status status = reader->Finish();
    EXPECT_TRUE(status.ok()) << status.error_message() << testing::ReadTextFile(dir_ + "/agent.log");
    return events;
  }

  vmle::v1::Study Get(const std::string& id) {
    grpc::ClientContext context;
    vmle::v1::GetStudyRequest request;
    request.set_study_id(id);
    vmle::v1::Study study;
    EXPECT_TRUE(studies_->GetStudy(&context, request, &study).ok());
    return study;
  }

  void ExpectAllServing() {
    for (int port : {memory_port_, agent_port_, worker_ports_[0], worker_ports_[1]}) {
      auto health = grpc::health::v1::Health::NewStub(
          grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
      grpc::ClientContext context;
      grpc::health::v1::HealthCheckRequest request;
      grpc::health::v1::HealthCheckResponse response;
      ASSERT_TRUE(health->Check(&context, request, &response).ok()) << port;
      EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING) << port;
    }
  }

  std::string dir_;
  std::optional<testing::Subprocess> memory_, agent_, workers_[2];
  int memory_port_ = 0, agent_port_ = 0, worker_ports_[2] = {0, 0};
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<vmle::v1::StudyService::Stub> studies_;
};

TEST_F(ClusterTest, StudyRunsThroughThePublicApiOnTwoWorkers) {
  vmle::v1::Study study;
  ASSERT_TRUE(Submit(SmallSpec(4, 2), &study).ok());
  const auto events = Watch(study.id());
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().type(), vmle::v1::StudyEvent::TYPE_STUDY_FINISHED);
  std::set<std::string> workers;
  int progress = 0;
  for (const auto& e : events) {
    if (e.type() == vmle::v1::StudyEvent::TYPE_TRIAL_STARTED) workers.insert(e.message().substr(e.message().find("on ")));
    progress += e.type() == vmle::v1::StudyEvent::TYPE_TRIAL_PROGRESS;
  }
  EXPECT_EQ(workers.size(), 2u) << "both workers trained";
  EXPECT_EQ(progress, 8) << "2 epochs x 4 trials";

  const vmle::v1::Study done = Get(study.id());
  EXPECT_EQ(done.state(), vmle::v1::STUDY_STATE_SUCCEEDED);
  EXPECT_EQ(done.trials_succeeded(), 4);
  EXPECT_EQ(done.dataset_profile().num_users(), 300);

  grpc::ClientContext list_context;
  vmle::v1::ListTrialsRequest list;
  list.set_study_id(study.id());
  vmle::v1::ListTrialsResponse trials;
  ASSERT_TRUE(studies_->ListTrials(&list_context, list, &trials).ok());
  ASSERT_EQ(trials.trials_size(), 4);
  for (const auto& t : trials.trials()) {
    EXPECT_EQ(t.status(), vmle::v1::TRIAL_STATUS_SUCCEEDED);
    EXPECT_EQ(t.epochs_size(), 2);
    EXPECT_EQ(t.config().values().at("max_epochs").int_value(), 2);
    EXPECT_GT(t.validation().ndcg_at_10(), 0);
    EXPECT_GT(t.train_seconds(), 0);
  }

  grpc::ClientContext report_context;
  vmle::v1::GetReportRequest report_request;
  report_request.set_study_id(study.id());
  vmle::v1::StudyReport report;
  ASSERT_TRUE(studies_->GetReport(&report_context, report_request, &report).ok());
  EXPECT_EQ(report.best_trial().id(), done.best_trial_id());
  EXPECT_GT(report.best_trial().test().recall_at_10(), 0);
  EXPECT_EQ(report.trajectory_size(), 4);
  EXPECT_THAT(report.markdown(), HasSubstr("baseline: the default configuration"));
}

TEST_F(ClusterTest, BadDatasetsFailTheStudyClearlyAndLeaveTheClusterHealthy) {
  // A path that leaves the data root is refused at submission.
  vmle::v1::StudySpec escape = SmallSpec(2, 1);
  escape.mutable_dataset()->set_format(vmle::v1::DATASET_FORMAT_SEQUENTIAL);
  escape.mutable_dataset()->set_path("../db/secret.txt");
  vmle::v1::Study refused;
  const grpc::Status status = Submit(escape, &refused);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("spec.dataset.path"));

  // A symlink inside the root that points outside: the worker refuses it.
  std::ofstream(dir_ + "/outside.txt") << "1 1 2 3 4\n";
  std::filesystem::create_symlink(dir_ + "/outside.txt", dir_ + "/data/link.txt");
  vmle::v1::StudySpec linked = SmallSpec(2, 1);
  linked.mutable_dataset()->set_format(vmle::v1::DATASET_FORMAT_SEQUENTIAL);
  linked.mutable_dataset()->set_path("link.txt");
  vmle::v1::Study link_study;
  ASSERT_TRUE(Submit(linked, &link_study).ok());
  Watch(link_study.id());
  const vmle::v1::Study link_done = Get(link_study.id());
  EXPECT_EQ(link_done.state(), vmle::v1::STUDY_STATE_FAILED);
  EXPECT_THAT(link_done.error(), HasSubstr("data root"));

  // A malformed file: the study fails at once, naming the file and line.
  std::ofstream(dir_ + "/data/bad.txt") << "1 2 3\n2 x 4\n";
  vmle::v1::StudySpec bad = SmallSpec(3, 1);
  bad.mutable_dataset()->set_format(vmle::v1::DATASET_FORMAT_SEQUENTIAL);
  bad.mutable_dataset()->set_path("bad.txt");
  vmle::v1::Study bad_study;
  ASSERT_TRUE(Submit(bad, &bad_study).ok());
  Watch(bad_study.id());
  const vmle::v1::Study bad_done = Get(bad_study.id());
  EXPECT_EQ(bad_done.state(), vmle::v1::STUDY_STATE_FAILED);
  EXPECT_THAT(bad_done.error(), HasSubstr("bad.txt:2"));
  EXPECT_EQ(bad_done.trials_failed(), 1);

  // Every process is still serving, and a good study still runs.
  ExpectAllServing();
  vmle::v1::Study good;
  ASSERT_TRUE(Submit(SmallSpec(1, 1), &good).ok());
  Watch(good.id());
  EXPECT_EQ(Get(good.id()).state(), vmle::v1::STUDY_STATE_SUCCEEDED);
}

// Writes DIR/study.yaml: a random_default study on synthetic data, 16-wide, `epochs` epochs.
std::string WriteStudyFile(const std::string& dir, int users, int items, int trials, int parallel, int epochs,
                           const std::string& first_line = "") {
  std::ofstream(dir + "/study.yaml") << first_line
                                      << absl::StrCat("dataset: {format: DATASET_FORMAT_SYNTHETIC, synthetic_users: ",
                                                      users, ", synthetic_items: ", items, "}\n",
                                                      "budget: {max_trials: ", trials, ", parallelism: ", parallel,
                                                      "}\n", "planner: {name: random_default}\n",
                                                      "fixed: {values: {max_epochs: {int_value: ", epochs,
                                                      "}, hidden_dim: {int_value: 16}}}\n");
  return dir + "/study.yaml";
}

TEST(TuneTest, TuneRunsAStudyInOneProcessFromAYamlFile) {
  const std::string dir = testing::MakeTempDir();
  const std::string study_file = WriteStudyFile(dir, 300, 120, 3, 2, 2, "name: tune-e2e\n");
  auto tune = testing::Subprocess::Start(
      {Bin("services/cli/vmle"), "tune", "--file", study_file, "--state_dir", dir + "/state"},
      dir + "/tune.log");
  ASSERT_TRUE(tune.ok()) << tune.status();
  const auto exit = tune->Wait(400000ms);
  const std::string log = testing::ReadTextFile(dir + "/tune.log");
  ASSERT_TRUE(exit.has_value()) << log;
  EXPECT_TRUE(WIFEXITED(*exit) && WEXITSTATUS(*exit) == 0) << log;
  EXPECT_THAT(log, HasSubstr("study finished: budget of 3 trials used"));
  EXPECT_THAT(log, HasSubstr("## Best configuration"));
  int reports = 0;
  for (const auto& f : std::filesystem::directory_iterator(dir + "/state/reports")) {
    reports += f.path().extension() == ".md" || f.path().extension() == ".svg";
  }
  EXPECT_EQ(reports, 2);
}

// Runs `vmle tune` with `args`; returns its output, failing the test on a non-zero exit.
std::string RunTune(const std::string& dir, const std::string& name, std::vector<std::string> args) {
  std::vector<std::string> argv = {Bin("services/cli/vmle"), "tune"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto tune = testing::Subprocess::Start(argv, dir + "/" + name + ".log");
  EXPECT_TRUE(tune.ok()) << tune.status();
  if (!tune.ok()) return "";
  const auto exit = tune->Wait(400000ms);
  const std::string log = testing::ReadTextFile(dir + "/" + name + ".log");
  EXPECT_TRUE(exit.has_value() && WIFEXITED(*exit) && WEXITSTATUS(*exit) == 0) << log;
  return log;
}

TEST(TuneTest, SecondTuneOnARelatedDatasetStartsFromTheFirstOnesCognition) {
  const std::string dir = testing::MakeTempDir();
  const std::vector<std::string> common = {"--state_dir",  dir + "/state", "--planner", "heuristic",
                                           "--trials",     "3",             "--parallel", "1",
                                           "--fixed",      "max_epochs=2",  "--fixed",   "hidden_dim=16"};
  std::ofstream(dir + "/a.yaml") << "dataset: {format: DATASET_FORMAT_SYNTHETIC, synthetic_users: 300, "
                                    "synthetic_items: 120, synthetic_seed: 1}\n";
  std::ofstream(dir + "/b.yaml") << "dataset: {format: DATASET_FORMAT_SYNTHETIC, synthetic_users: 320, "
                                    "synthetic_items: 120, synthetic_seed: 2}\n";
  std::vector<std::string> first = common;
  first.insert(first.end(), {"--file", dir + "/a.yaml"});
  const std::string log_a = RunTune(dir, "a", first);
  EXPECT_THAT(log_a, HasSubstr("cognition summary"));
  EXPECT_THAT(log_a, ::testing::Not(HasSubstr("Recalled cognition summary")));

  std::vector<std::string> second = common;
  second.insert(second.end(), {"--file", dir + "/b.yaml"});
  const std::string log_b = RunTune(dir, "b", second);
  EXPECT_THAT(log_b, HasSubstr("Recalled cognition summary: cs-st-"));
  EXPECT_THAT(log_b, HasSubstr("from synthetic-300x120-s1"));
}

// The first line of `log` that starts with `prefix`, after the prefix, up to the next
// space or colon.
std::string WordAfter(const std::string& log, const std::string& prefix) {
  const size_t at = log.find(prefix);
  if (at == std::string::npos) return "";
  const size_t begin = at + prefix.size();
  return log.substr(begin, log.find_first_of(" :\n", begin) - begin);
}

TEST(TuneTest, AKilledTuneContinuesItsStudyWhenRunAgainWithTheSameSettings) {
  const std::string dir = testing::MakeTempDir();
  const std::string study_file = WriteStudyFile(dir, 300, 120, 4, 1, 3);
  const std::vector<std::string> args = {"--file", study_file, "--state_dir", dir + "/state"};
  std::vector<std::string> argv = {Bin("services/cli/vmle"), "tune"};
  argv.insert(argv.end(), args.begin(), args.end());
  {
    auto tune = testing::Subprocess::Start(argv, dir + "/first.log");
    ASSERT_TRUE(tune.ok()) << tune.status();
    const absl::Time deadline = absl::Now() + absl::Seconds(300);
    while (testing::ReadTextFile(dir + "/first.log").find("trial 1 finished") == std::string::npos) {
      ASSERT_LT(absl::Now(), deadline) << testing::ReadTextFile(dir + "/first.log");
      ASSERT_FALSE(tune->Wait(200ms).has_value()) << testing::ReadTextFile(dir + "/first.log");
    }
    tune->Signal(SIGKILL);
    ASSERT_TRUE(tune->Wait(30000ms).has_value());
  }
  const std::string first = testing::ReadTextFile(dir + "/first.log");
  const std::string id = WordAfter(first, "study ");
  ASSERT_FALSE(id.empty()) << first;
  ASSERT_THAT(first, ::testing::Not(HasSubstr("study finished")));

  // Other settings on the same state: refused, naming the unfinished study.
  std::vector<std::string> other = {Bin("services/cli/vmle"), "tune", "--file", study_file, "--trials", "5",
                                    "--state_dir", dir + "/state"};
  auto refused = testing::Subprocess::Start(other, dir + "/other.log");
  ASSERT_TRUE(refused.ok()) << refused.status();
  const auto refused_exit = refused->Wait(120000ms);
  const std::string other_log = testing::ReadTextFile(dir + "/other.log");
  ASSERT_TRUE(refused_exit.has_value()) << other_log;
  EXPECT_TRUE(WIFEXITED(*refused_exit) && WEXITSTATUS(*refused_exit) != 0) << other_log;
  EXPECT_THAT(other_log, HasSubstr("holds the unfinished study " + id));

  // The same settings: the same study goes on to the end of its budget.
  const std::string second = RunTune(dir, "second", args);
  EXPECT_THAT(second, HasSubstr("continuing study " + id));
  EXPECT_EQ(WordAfter(second, "study "), id) << second;
  EXPECT_THAT(second, HasSubstr("study finished: budget of 4 trials used"));
  EXPECT_THAT(second, HasSubstr("trial 4 finished"));
  EXPECT_THAT(second, ::testing::Not(HasSubstr("trial 5 ")));

  // The study is finished: the same settings again start a new study.
  const std::string third = RunTune(dir, "third", args);
  EXPECT_THAT(third, ::testing::Not(HasSubstr("continuing study")));
  EXPECT_NE(WordAfter(third, "study "), id) << third;
  EXPECT_THAT(third, HasSubstr("study finished: budget of 4 trials used"));
}

TEST(TuneTest, ListenWithTokensRefusesCallersWithoutOne) {
  const std::string dir = testing::MakeTempDir();
  const std::string viewer = "viewer-token-0123456789abcdef";
  std::ofstream(dir + "/tokens") << "viewer " << viewer << "\n";
  const std::string study_file = WriteStudyFile(dir, 2000, 300, 2, 1, 4);
  auto tune = testing::Subprocess::Start({Bin("services/cli/vmle"), "tune", "--file", study_file, "--state_dir",
                                          dir + "/state", "--listen", "127.0.0.1:0", "--listen_auth_tokens_file",
                                          dir + "/tokens"},
                                         dir + "/tune.log");
  ASSERT_TRUE(tune.ok()) << tune.status();
  std::string port;
  for (const absl::Time deadline = absl::Now() + absl::Seconds(120); port.empty();) {
    ASSERT_LT(absl::Now(), deadline) << testing::ReadTextFile(dir + "/tune.log");
    ASSERT_FALSE(tune->Wait(50ms).has_value()) << testing::ReadTextFile(dir + "/tune.log");
    port = WordAfter(testing::ReadTextFile(dir + "/tune.log"), "agent serving on port ");
  }
  auto studies = vmle::v1::StudyService::NewStub(
      grpc::CreateChannel("127.0.0.1:" + port, grpc::InsecureChannelCredentials()));
  vmle::v1::ListStudiesResponse listed;
  {
    grpc::ClientContext context;
    const grpc::Status status = studies->ListStudies(&context, {}, &listed);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED) << status.error_message();
  }
  {
    grpc::ClientContext context;
    context.AddMetadata("authorization", "Bearer " + viewer);
    const grpc::Status status = studies->ListStudies(&context, {}, &listed);
    EXPECT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(listed.studies_size(), 1);
  }
  {
    grpc::ClientContext context;  // a viewer may not submit
    context.AddMetadata("authorization", "Bearer " + viewer);
    vmle::v1::SubmitStudyRequest request;
    vmle::v1::Study study;
    EXPECT_EQ(studies->SubmitStudy(&context, request, &study).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  }
  const auto exit = tune->Wait(400000ms);
  ASSERT_TRUE(exit.has_value());
  EXPECT_TRUE(WIFEXITED(*exit) && WEXITSTATUS(*exit) == 0) << testing::ReadTextFile(dir + "/tune.log");
}

}  // namespace
}  // namespace vmle
