// The llm planner in the real agent (in-process cluster, simulated workers) against a
// fake endpoint: a study is recorded to a transcript, including a round that falls
// back to the heuristic planner; a second cluster replays the transcript with no
// endpoint and runs the same trials, proposal by proposal.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/util/message_differencer.h"
#include "tests/agent/agent_test_util.h"
#include "tests/agent/fake_llm_server.h"

namespace vmle::agent {
namespace {

using google::protobuf::util::MessageDifferencer;
using testing::InProcessCluster;

constexpr int kTrials = 6;

// Proposals with a new learning rate each; proposal replies 2-4 are unusable, so
// that round falls back (max_repairs 2).
testing::FakeResponse Model(const testing::FakeRequest& request, std::atomic<int>& proposals) {
  const std::string& prompt = request.messages.size() > 1 ? request.messages[1].second : "";
  if (absl::StrContains(prompt, "Reflect on this trial")) {
    return testing::Completion(R"({"observation": "o", "explanation": "e", "generalized_rule": "g", "next_action": "n"})");
  }
  if (absl::StrContains(prompt, "Distill")) {
    return testing::Completion(R"({"prose": "lr matters", "rules": [{"knob": "lr", "direction": "up"}]})");
  }
  const int k = proposals++;
  if (k >= 2 && k <= 4) return testing::Completion("{\"proposals\": []}");
  return testing::Completion(absl::StrCat(R"({"proposals": [{"hypothesis": "lr step )", k,
                                          R"(", "changed_dimension": "lr", "configuration": {"lr": )",
                                          0.0003 * (k + 1), "}}]}"));
}

// Runs one study with `options` on a fresh cluster whose operator configured `llm`;
// its trials in number order (and its id in `*study_id` when set).
std::vector<vmle::v1::Trial> RunStudy(const llm::LlmConfig& llm, const std::map<std::string, std::string>& options,
                                      std::string* study_id = nullptr) {
  InProcessCluster cluster;
  StudyManager::Options agent = InProcessCluster::DefaultOptions();
  agent.llm = llm;
  cluster.StartAgent(agent);
  cluster.AddWorkers(1, absl::Milliseconds(1));
  vmle::v1::SubmitStudyRequest submit;
  *submit.mutable_spec() = testing::SimSpec("llm", kTrials, 1);
  for (const auto& [key, value] : options) (*submit.mutable_spec()->mutable_planner()->mutable_options())[key] = value;
  vmle::v1::Study study;
  grpc::ClientContext submit_context;
  const grpc::Status submitted = cluster.studies().SubmitStudy(&submit_context, submit, &study);
  EXPECT_TRUE(submitted.ok()) << submitted.error_message();
  if (study_id != nullptr) *study_id = study.id();
  absl::StatusOr<vmle::v1::Study> ended = cluster.WaitForEnd(study.id(), absl::Seconds(60));
  EXPECT_TRUE(ended.ok()) << ended.status();
  if (ended.ok()) {
    EXPECT_EQ(ended->state(), vmle::v1::STUDY_STATE_SUCCEEDED) << ended->error();
  }
  vmle::v1::ListTrialsRequest list;
  list.set_study_id(study.id());
  vmle::v1::ListTrialsResponse trials;
  grpc::ClientContext list_context;
  EXPECT_TRUE(cluster.studies().ListTrials(&list_context, list, &trials).ok());
  return {trials.trials().begin(), trials.trials().end()};
}

TEST(LlmClusterTest, ARecordedStudyReplaysToTheSameTrials) {
  const std::string transcripts = vmle::testing::MakeTempDir();
  std::vector<vmle::v1::Trial> recorded;
  std::string recorded_id;
  {
    std::atomic<int> proposals{0};
    testing::FakeLlmServer server([&](const testing::FakeRequest& r, int) { return Model(r, proposals); });
    recorded = RunStudy(server.Config(transcripts), {{"model", "fake"}}, &recorded_id);
  }
  // The agent named the transcript after the study, under its own directory.
  EXPECT_TRUE(std::filesystem::exists(transcripts + "/" + recorded_id + ".jsonl")) << recorded_id;
  ASSERT_EQ(recorded.size(), static_cast<size_t>(kTrials));
  int fallbacks = 0;
  for (const vmle::v1::Trial& t : recorded) {
    if (!t.proposal().fallback()) continue;
    ++fallbacks;
    EXPECT_EQ(t.proposal().planner(), "heuristic");
    EXPECT_TRUE(absl::StrContains(t.proposal().fallback_reason(), "proposals: empty")) << t.proposal().fallback_reason();
  }
  EXPECT_EQ(fallbacks, 1);

  // Replayed by study id on an agent with no endpoint at all.
  llm::LlmConfig no_endpoint;
  no_endpoint.transcript_dir = transcripts;
  const std::vector<vmle::v1::Trial> replayed = RunStudy(no_endpoint, {{"replay", recorded_id}});
  ASSERT_EQ(replayed.size(), recorded.size());
  for (size_t i = 0; i < recorded.size(); ++i) {
    EXPECT_EQ(replayed[i].number(), recorded[i].number());
    EXPECT_TRUE(MessageDifferencer::Equals(replayed[i].config(), recorded[i].config())) << "trial " << i + 1;
    EXPECT_TRUE(MessageDifferencer::Equals(replayed[i].proposal(), recorded[i].proposal())) << "trial " << i + 1;
  }
}

// A transcript recorded on one cluster is uploaded by an operator to another agent's
// transcript directory and replayed there by the id it was uploaded as. The upload
// checks the transcript, never overwrites, never follows a link and takes no id of
// the agent's own transcripts.
TEST(LlmClusterTest, AnUploadedTranscriptReplaysByItsIdAndBadUploadsAreRefused) {
  const std::string recorded_dir = vmle::testing::MakeTempDir();
  std::string recorded_id;
  std::vector<vmle::v1::Trial> recorded;
  {
    std::atomic<int> proposals{0};
    testing::FakeLlmServer server([&](const testing::FakeRequest& r, int) { return Model(r, proposals); });
    recorded = RunStudy(server.Config(recorded_dir), {{"model", "fake"}}, &recorded_id);
  }
  std::ifstream in(recorded_dir + "/" + recorded_id + ".jsonl");
  const std::string jsonl((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_FALSE(jsonl.empty());

  const std::string target = vmle::testing::MakeTempDir();
  const std::string outside = vmle::testing::MakeTempDir();
  std::filesystem::create_symlink(outside + "/victim", target + "/linked.jsonl");
  llm::LlmConfig no_endpoint;
  no_endpoint.transcript_dir = target;
  {
    InProcessCluster cluster;
    StudyManager::Options agent = InProcessCluster::DefaultOptions();
    agent.llm = no_endpoint;
    cluster.StartAgent(agent);
    auto upload = [&](const std::string& id, const std::string& text, vmle::v1::UploadTranscriptResponse* out) {
      vmle::v1::UploadTranscriptRequest request;
      request.set_id(id);
      request.set_jsonl(text);
      grpc::ClientContext context;
      return cluster.studies().UploadTranscript(&context, request, out);
    };
    vmle::v1::UploadTranscriptResponse response;
    grpc::Status status = upload("beauty-run-1", jsonl, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(response.id(), "beauty-run-1");
    EXPECT_GT(response.exchanges(), kTrials);

    struct Refused {
      std::string id, text;
      grpc::StatusCode code;
      std::string message;
    };
    for (const Refused& r : std::vector<Refused>{
             {"beauty-run-1", jsonl, grpc::StatusCode::ALREADY_EXISTS, "id: a transcript beauty-run-1 exists"},
             {recorded_id, jsonl, grpc::StatusCode::INVALID_ARGUMENT, "id: names starting with \"st-\""},
             {"../escape", jsonl, grpc::StatusCode::INVALID_ARGUMENT, "id: expected 1 to 64 characters"},
             {"/tmp/abs", jsonl, grpc::StatusCode::INVALID_ARGUMENT, "id: expected 1 to 64 characters"},
             {"linked", jsonl, grpc::StatusCode::ALREADY_EXISTS, "id: a transcript linked exists"},
             {"garbage", "{\"request\": 1}\n", grpc::StatusCode::INVALID_ARGUMENT, "jsonl:1: not a transcript exchange"},
             {"empty", "\n", grpc::StatusCode::INVALID_ARGUMENT, "jsonl: holds no exchange"},
         }) {
      status = upload(r.id, r.text, &response);
      EXPECT_EQ(status.error_code(), r.code) << r.id << ": " << status.error_message();
      EXPECT_TRUE(absl::StrContains(status.error_message(), r.message)) << r.id << ": " << status.error_message();
    }
    // Nothing was written through the link or for a refused upload; no staging file is left.
    EXPECT_FALSE(std::filesystem::exists(outside + "/victim"));
    std::vector<std::string> files;
    for (const auto& f : std::filesystem::directory_iterator(target)) files.push_back(f.path().filename().string());
    std::sort(files.begin(), files.end());
    EXPECT_EQ(files, (std::vector<std::string>{"beauty-run-1.jsonl", "linked.jsonl"}));
  }
  const std::vector<vmle::v1::Trial> replayed = RunStudy(no_endpoint, {{"replay", "beauty-run-1"}});
  ASSERT_EQ(replayed.size(), recorded.size());
  for (size_t i = 0; i < recorded.size(); ++i) {
    EXPECT_TRUE(MessageDifferencer::Equals(replayed[i].config(), recorded[i].config())) << "trial " << i + 1;
    EXPECT_TRUE(MessageDifferencer::Equals(replayed[i].proposal(), recorded[i].proposal())) << "trial " << i + 1;
  }

  // Without a transcript directory there is nowhere to upload to.
  InProcessCluster bare;
  bare.StartAgent();
  vmle::v1::UploadTranscriptRequest request;
  request.set_id("x");
  request.set_jsonl(jsonl);
  vmle::v1::UploadTranscriptResponse response;
  grpc::ClientContext context;
  const grpc::Status status = bare.studies().UploadTranscript(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << status.error_message();
}

TEST(LlmClusterTest, AStudyWhoseEndpointIsDownCompletesOnTheHeuristicFallback) {
  // Port 1 on loopback refuses connections: every call fails after its one attempt.
  llm::LlmEndpoint down;
  down.name = "down";
  down.base_url = "http://127.0.0.1:1/v1";
  down.models = {"fake"};
  down.max_attempts = 1;
  llm::LlmConfig config;
  config.endpoints = {down};
  const std::vector<vmle::v1::Trial> trials = RunStudy(config, {{"endpoint", "down"}});
  ASSERT_EQ(trials.size(), static_cast<size_t>(kTrials));
  for (const vmle::v1::Trial& t : trials) {
    EXPECT_EQ(t.status(), vmle::v1::TRIAL_STATUS_SUCCEEDED) << t.number();
    EXPECT_TRUE(t.proposal().fallback()) << t.number();
    EXPECT_EQ(t.proposal().planner(), "heuristic");
    EXPECT_FALSE(t.proposal().fallback_reason().empty());
  }
  // The heuristic's protocol goes on: the baseline first, then one change at a time.
  EXPECT_TRUE(absl::StartsWith(trials[0].proposal().hypothesis(), "baseline")) << trials[0].proposal().hypothesis();
  EXPECT_FALSE(trials[1].proposal().changed_dimension().empty());
}

TEST(LlmClusterTest, StoppingTheAgentEndsAnLlmCallInFlight) {
  // The endpoint answers after a minute: the agent stops without waiting for it, and the
  // call is neither retried nor re-asked.
  testing::FakeLlmServer server([](const testing::FakeRequest&, int) { return testing::Slow(absl::Seconds(60)); });
  InProcessCluster cluster;
  StudyManager::Options agent = InProcessCluster::DefaultOptions();
  agent.llm = server.Config("", absl::Seconds(120));
  cluster.StartAgent(agent);
  vmle::v1::SubmitStudyRequest submit;
  *submit.mutable_spec() = testing::SimSpec("llm", 4, 1);
  auto study = cluster.manager().Submit(submit);
  ASSERT_TRUE(study.ok()) << study.status();
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (server.request_count() == 0) {
    ASSERT_LT(absl::Now(), deadline) << "the planner never called the endpoint";
    absl::SleepFor(absl::Milliseconds(20));
  }
  cluster.StopAgent();
  EXPECT_EQ(server.request_count(), 1);
}

// A study that names a URL, a file or an environment variable is refused at submit,
// naming the option: the loopback endpoint it names hears nothing and no file is made.
TEST(LlmClusterTest, ASubmitterCannotPointTheAgentAtFilesUrlsOrVariables) {
  testing::FakeLlmServer listener([](const testing::FakeRequest&, int) { return testing::Completion("{}"); });
  testing::FakeLlmServer configured([](const testing::FakeRequest&, int) { return testing::Completion("{}"); });
  const std::string dir = vmle::testing::MakeTempDir();
  const std::string transcripts = dir + "/transcripts";
  ASSERT_TRUE(std::filesystem::create_directory(transcripts));
  const std::string secret = dir + "/secret";
  std::ofstream(secret) << "sk-secret";
  InProcessCluster cluster;
  StudyManager::Options agent = InProcessCluster::DefaultOptions();
  agent.llm = configured.Config(transcripts);
  cluster.StartAgent(agent);
  for (const char* planner : {"llm", "opro"}) {
    for (const auto& [key, value] : std::vector<std::pair<std::string, std::string>>{
             {"base_url", listener.base_url()},
             {"api_key_file", secret},
             {"api_key_env", "PATH"},
             {"transcript", dir + "/written.jsonl"},
             {"replay", secret},
             {"replay", "../secret"},
             {"endpoint", listener.base_url()}}) {
      vmle::v1::SubmitStudyRequest submit;
      *submit.mutable_spec() = testing::SimSpec(planner, 2, 1);
      (*submit.mutable_spec()->mutable_planner()->mutable_options())[key] = value;
      vmle::v1::Study study;
      grpc::ClientContext context;
      const grpc::Status s = cluster.studies().SubmitStudy(&context, submit, &study);
      EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << planner << " " << key;
      EXPECT_TRUE(absl::StrContains(s.error_message(), "planner.options." + key)) << s.error_message();
      EXPECT_FALSE(absl::StrContains(s.error_message(), "sk-secret"));
    }
  }
  absl::SleepFor(absl::Milliseconds(300));  // time for any stray call to arrive
  EXPECT_EQ(listener.request_count(), 0);
  EXPECT_EQ(configured.request_count(), 0);
  EXPECT_FALSE(std::filesystem::exists(dir + "/written.jsonl"));
  EXPECT_TRUE(std::filesystem::is_empty(transcripts));
}

}  // namespace
}  // namespace vmle::agent
