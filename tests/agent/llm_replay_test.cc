// A study planned by the llm (and the opro) planner against a fake endpoint, recorded
// to a transcript, then replayed with no endpoint at all: the trials' configurations
// and proposals, the reflections and the cognition summary come out the same, one by
// one, including the rounds that were repaired or fell back. A run that diverges
// from its transcript fails with FAILED_PRECONDITION.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/util/message_differencer.h"
#include "services/agent/planner/llm/llm_planner.h"
#include "services/agent/planner/planner_factory.h"
#include "tests/agent/fake_llm_server.h"
#include "tests/agent/planning_loop.h"
#include "tests/util/subprocess.h"

namespace vmle::agent {
namespace {

using google::protobuf::util::MessageDifferencer;
using testing::Completion;
using testing::FakeLlmServer;
using testing::FakeRequest;
using testing::FakeResponse;

constexpr int kTrials = 8;

struct StudyRun {
  std::vector<vmle::v1::Trial> trials;
  std::vector<vmle::v1::Reflection> reflections;
  std::optional<vmle::v1::CognitionSummary> summary;
  absl::Status error;
};

double Objective(const vmle::v1::Configuration& config) {
  const double lr = config.values().at("lr").float_value();
  const double dropout = config.values().at("dropout").float_value();
  return 0.06 - 0.004 * std::abs(std::log10(lr) + 2.7) - 0.01 * std::abs(dropout - 0.3);
}

// The closed loop of a study with one trial at a time: propose, run, reflect,
// consolidate; distill at the end. Stops at the first planner error.
StudyRun RunLoop(Planner& planner, uint64_t seed) {
  StudyRun run;
  PlanningContext context = testing::SasrecContext(seed);
  context.spec.mutable_budget()->set_max_trials(kTrials);
  for (int n = 1; n <= kTrials; ++n) {
    absl::StatusOr<std::vector<PlannedTrial>> planned = planner.Propose(context);
    if (!planned.ok() || planned->size() != 1) {
      run.error = planned.ok() ? absl::InternalError("no proposal") : planned.status();
      return run;
    }
    vmle::v1::Trial trial;
    trial.set_number(n);
    *trial.mutable_config() = (*planned)[0].config;
    *trial.mutable_proposal() = (*planned)[0].proposal;
    trial.set_status(vmle::v1::TRIAL_STATUS_SUCCEEDED);
    trial.set_objective_value(Objective(trial.config()));
    context.history.push_back(trial);
    run.trials.push_back(trial);
    auto reflection = planner.Reflect(context, trial);
    if (!reflection.ok()) {
      run.error = reflection.status();
      return run;
    }
    if (reflection->has_value()) {
      context.reflections.push_back(**reflection);
      run.reflections.push_back(**reflection);
    }
    if (auto insights = planner.Consolidate(context); insights.ok() && insights->has_value()) {
      context.insights = **insights;
    }
  }
  auto summary = planner.Distill(context);
  if (!summary.ok()) {
    run.error = summary.status();
  } else {
    run.summary = *summary;
  }
  return run;
}

// A scripted model: proposals with a new learning rate and dropout each time, with
// unusable replies mixed in (one round repaired, one round falling back after three
// bad replies, one reflection falling back), reflections and a summary.
FakeResponse Script(const FakeRequest& request, std::atomic<int>& proposals, std::atomic<int>& reflections) {
  std::string first_user;
  for (const auto& [role, content] : request.messages) {
    if (role == "user") {
      first_user = content;
      break;
    }
  }
  if (absl::StrContains(first_user, "Reflect on this trial")) {
    const int k = reflections++;
    if (k >= 3 && k <= 5) return Completion("I cannot say.");
    return Completion(absl::StrCat(R"({"observation": "observation )", k,
                                   R"(", "explanation": "e", "generalized_rule": "g", "next_action": "n"})"));
  }
  if (absl::StrContains(first_user, "Distill")) {
    return Completion(R"({"prose": "lr near 2e-3 works", "rules": [{"knob": "lr", "direction": "up", )"
                      R"("confidence": 0.7, "effect": 0.05, "evidence_trials": 4, "text": "t"}], )"
                      R"("search_order": ["baseline", "lr", "dropout"]})");
  }
  const int k = proposals++;
  if (k == 2) return Completion("not JSON at all");
  if (k >= 5 && k <= 7) return Completion(R"({"proposals": [{"configuration": {"lr": 5}}]})");
  return Completion(absl::StrCat(R"({"proposals": [{"hypothesis": "step )", k,
                                 R"(", "changed_dimension": "lr", "configuration": {"lr": )", 0.0002 * (k + 1),
                                 R"(, "dropout": )", 0.05 * (k % 9), "}}]}"));
}

void ExpectSameRuns(const StudyRun& recorded, const StudyRun& replayed) {
  ASSERT_TRUE(recorded.error.ok()) << recorded.error;
  ASSERT_TRUE(replayed.error.ok()) << replayed.error;
  ASSERT_EQ(recorded.trials.size(), replayed.trials.size());
  for (size_t i = 0; i < recorded.trials.size(); ++i) {
    EXPECT_TRUE(MessageDifferencer::Equals(recorded.trials[i].config(), replayed.trials[i].config())) << "trial " << i + 1;
    EXPECT_TRUE(MessageDifferencer::Equals(recorded.trials[i].proposal(), replayed.trials[i].proposal()))
        << "trial " << i + 1 << ": " << recorded.trials[i].proposal().DebugString() << " vs "
        << replayed.trials[i].proposal().DebugString();
  }
  ASSERT_EQ(recorded.reflections.size(), replayed.reflections.size());
  for (size_t i = 0; i < recorded.reflections.size(); ++i) {
    EXPECT_TRUE(MessageDifferencer::Equals(recorded.reflections[i], replayed.reflections[i])) << "reflection " << i;
  }
  ASSERT_EQ(recorded.summary.has_value(), replayed.summary.has_value());
  if (recorded.summary.has_value()) {
    EXPECT_TRUE(MessageDifferencer::Equals(*recorded.summary, *replayed.summary));
  }
}

class LlmReplayTest : public ::testing::TestWithParam<std::string> {};

TEST_P(LlmReplayTest, ReplayedTranscriptReproducesTheStudy) {
  const std::string transcripts = vmle::testing::MakeTempDir();
  StudyRun recorded;
  {
    std::atomic<int> proposals{0}, reflections{0};
    FakeLlmServer server([&](const FakeRequest& r, int) { return Script(r, proposals, reflections); });
    vmle::v1::PlannerSpec spec;
    spec.set_name(GetParam());
    (*spec.mutable_options())["model"] = "fake-model";
    const llm::LlmConfig config = server.Config(transcripts);
    PlannerEnvironment environment;
    environment.llm = &config;
    environment.study_id = "st-recorded";
    auto planner = MakePlanner(spec, environment);
    ASSERT_TRUE(planner.ok()) << planner.status();
    recorded = RunLoop(**planner, 11);
    ASSERT_TRUE(recorded.error.ok()) << recorded.error;
  }
  int fallbacks = 0;
  for (const vmle::v1::Trial& t : recorded.trials) fallbacks += t.proposal().fallback() ? 1 : 0;
  EXPECT_EQ(fallbacks, 1);  // the round of three out-of-space replies

  vmle::v1::PlannerSpec replay;
  replay.set_name(GetParam());
  (*replay.mutable_options())["replay"] = "st-recorded";
  llm::LlmConfig no_endpoint;
  no_endpoint.transcript_dir = transcripts;
  PlannerEnvironment replaying;
  replaying.llm = &no_endpoint;
  replaying.study_id = "st-replaying";
  auto planner = MakePlanner(replay, replaying);
  ASSERT_TRUE(planner.ok()) << planner.status();
  const StudyRun replayed = RunLoop(**planner, 11);
  ExpectSameRuns(recorded, replayed);
  // Every exchange was used: one more request runs past the transcript.
  auto more = (*planner)->Propose(testing::SasrecContext(11));
  EXPECT_TRUE(absl::IsOutOfRange(more.status())) << more.status();

  // A different study (minimising) does not match the transcript.
  auto diverging = MakePlanner(replay, replaying);
  ASSERT_TRUE(diverging.ok());
  PlanningContext context = testing::SasrecContext(11, vmle::v1::DIRECTION_MINIMIZE);
  context.spec.mutable_budget()->set_max_trials(kTrials);
  absl::Status status = (*diverging)->Propose(context).status();
  EXPECT_TRUE(absl::IsFailedPrecondition(status)) << status;
  EXPECT_THAT(status.message(), ::testing::HasSubstr("exchange 1"));
}

INSTANTIATE_TEST_SUITE_P(Planners, LlmReplayTest, ::testing::Values("llm", "opro"));

}  // namespace
}  // namespace vmle::agent
