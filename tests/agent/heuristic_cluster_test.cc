// The heuristic planner through the in-process cluster: a study on one simulated
// dataset distills a cognition summary; a study on a related dataset recalls it once
// the worker reports the profile, tries its best configuration, and its report
// lists the recalled summary.
#include <gtest/gtest.h>

#include <map>

#include "services/agent/evidence/evidence.h"
#include "tests/agent/agent_test_util.h"

namespace vmle::agent {
namespace {

using testing::InProcessCluster;
using testing::SimSpec;

vmle::v1::Study Submit(InProcessCluster& cluster, const vmle::v1::StudySpec& spec) {
  vmle::v1::SubmitStudyRequest request;
  *request.mutable_spec() = spec;
  vmle::v1::Study study;
  grpc::ClientContext context;
  const grpc::Status status = cluster.studies().SubmitStudy(&context, request, &study);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return study;
}

vmle::v1::StudyReport Report(InProcessCluster& cluster, const std::string& study_id) {
  vmle::v1::GetReportRequest request;
  request.set_study_id(study_id);
  vmle::v1::StudyReport report;
  grpc::ClientContext context;
  const grpc::Status status = cluster.studies().GetReport(&context, request, &report);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return report;
}

TEST(HeuristicClusterTest, ASecondStudyRecallsTheFirstStudysSummary) {
  InProcessCluster cluster;
  cluster.StartAgent();
  cluster.AddWorkers(2, absl::Milliseconds(1));

  vmle::v1::StudySpec first = SimSpec("heuristic", 16, 2);
  const vmle::v1::Study source = Submit(cluster, first);
  absl::StatusOr<vmle::v1::Study> ended = cluster.WaitForEnd(source.id(), absl::Seconds(60));
  ASSERT_TRUE(ended.ok()) << ended.status();
  ASSERT_EQ(ended->state(), vmle::v1::STUDY_STATE_SUCCEEDED);
  const vmle::v1::StudyReport learned = Report(cluster, source.id());
  ASSERT_TRUE(learned.has_cognition());
  EXPECT_GT(learned.cognition().rules_size(), 0) << learned.cognition().DebugString();
  EXPECT_EQ(learned.cognition().search_order(0), "baseline");
  EXPECT_GT(learned.insights().insights_size(), 0);
  EXPECT_EQ(learned.study().recalled_summary_ids_size(), 0);

  // Two in parallel: the second slot of the first round waits for the recall.
  vmle::v1::StudySpec second = SimSpec("heuristic", 8, 2);
  second.mutable_dataset()->set_name("sim-related-sports");
  second.mutable_dataset()->set_synthetic_seed(5);
  const vmle::v1::Study target = Submit(cluster, second);
  ended = cluster.WaitForEnd(target.id(), absl::Seconds(60));
  ASSERT_TRUE(ended.ok()) << ended.status();
  ASSERT_EQ(ended->state(), vmle::v1::STUDY_STATE_SUCCEEDED);
  ASSERT_EQ(ended->recalled_summary_ids_size(), 1);

  const vmle::v1::StudyReport report = Report(cluster, target.id());
  ASSERT_EQ(report.recalled_size(), 1);
  EXPECT_EQ(report.recalled(0).source_study_id(), source.id());
  EXPECT_EQ(report.recalled(0).id(), ended->recalled_summary_ids(0));
  vmle::v1::ListTrialsRequest list;
  list.set_study_id(target.id());
  vmle::v1::ListTrialsResponse trials;
  grpc::ClientContext context;
  ASSERT_TRUE(cluster.studies().ListTrials(&context, list, &trials).ok());
  int transfers = 0;
  for (const vmle::v1::Trial& t : trials.trials()) {
    EXPECT_EQ(t.proposal().planner(), "heuristic");
    if (t.proposal().changed_dimension() == "transfer") ++transfers;
  }
  EXPECT_EQ(transfers, 1) << "the recalled best configuration is tried once";
  ASSERT_GE(trials.trials_size(), 2);
  EXPECT_EQ(trials.trials(1).proposal().changed_dimension(), "transfer") << "trial 2 starts from the summary";
}

// Through the real agent: every trial trains on the seed its seed plan names (a change
// on its parent's seed, a replicate on a new one or on the seed it is paired with), the
// study measures its seed noise from the replicates, its best is a configuration's
// mean over its seeds, and the report says so.
TEST(HeuristicClusterTest, SeedPlansAreFollowedAndTheStudyMeasuresItsNoise) {
  InProcessCluster cluster;
  cluster.StartAgent();
  cluster.AddWorkers(2, absl::Milliseconds(1));
  const vmle::v1::Study study = Submit(cluster, SimSpec("heuristic", 16, 2));
  absl::StatusOr<vmle::v1::Study> ended = cluster.WaitForEnd(study.id(), absl::Seconds(60));
  ASSERT_TRUE(ended.ok()) << ended.status();
  ASSERT_EQ(ended->state(), vmle::v1::STUDY_STATE_SUCCEEDED);
  const vmle::v1::StudyReport report = Report(cluster, study.id());
  std::map<int, vmle::v1::Trial> by_number;
  for (const auto& e : report.trajectory()) by_number[e.trial_number()] = vmle::v1::Trial();
  vmle::v1::ListTrialsRequest list;
  list.set_study_id(study.id());
  vmle::v1::ListTrialsResponse trials;
  grpc::ClientContext context;
  ASSERT_TRUE(cluster.studies().ListTrials(&context, list, &trials).ok());
  for (const vmle::v1::Trial& t : trials.trials()) by_number[t.number()] = t;
  int paired = 0, replicates = 0;
  for (const auto& [number, t] : by_number) {
    const vmle::v1::Proposal& p = t.proposal();
    if (p.seed_from() > 0) {
      ++paired;
      EXPECT_EQ(t.seed(), by_number.at(p.seed_from()).seed()) << "trial " << number << " is paired with " << p.seed_from();
    }
    if (p.replicate_of() > 0) {
      ++replicates;
      EXPECT_EQ(evidence::ConfigurationKey(t.config()), evidence::ConfigurationKey(by_number.at(p.replicate_of()).config()));
      if (p.seed_from() == 0) {
        EXPECT_NE(t.seed(), by_number.at(p.replicate_of()).seed()) << "a new seed";
      }
    }
  }
  EXPECT_GT(paired, 0);
  EXPECT_GE(replicates, 1) << "the baseline on a second seed";
  EXPECT_GT(ended->noise().degrees_of_freedom(), 0);
  EXPECT_GT(ended->noise().relative_sd(), 0);
  EXPECT_GE(ended->best_runs(), 1);
  EXPECT_EQ(report.best_trials_size(), ended->best_runs());
  EXPECT_NEAR(report.best_validation_mean(), ended->best_value(), 1e-12);
  EXPECT_NE(report.markdown().find("- Seed noise: sd "), std::string::npos) << report.markdown();
  EXPECT_NE(report.markdown().find("| paired with t"), std::string::npos);
  EXPECT_NE(report.markdown().find("replicate of t1"), std::string::npos);
}

}  // namespace
}  // namespace vmle::agent
