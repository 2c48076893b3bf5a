#include "services/trainer/worker/trial_runner.h"

#include <atomic>
#include <stdexcept>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "services/trainer/train/trainer.h"
#include "tests/util/subprocess.h"
#include "tests/worker/worker_test_util.h"

namespace vmle::worker {
namespace {

using ::testing::HasSubstr;
using Kind = TrialOutcome::Kind;

class TrialRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    DatasetCacheOptions options;
    options.data_root = vmle::testing::MakeTempDir();
    auto cache = DatasetCache::Create(options);
    ASSERT_TRUE(cache.ok()) << cache.status();
    cache_ = std::move(*cache);
  }

  TrialRunnerOptions Options(TrainFunction train = nullptr) {
    TrialRunnerOptions options;
    options.datasets = cache_.get();
    options.train = std::move(train);
    return options;
  }

  std::unique_ptr<DatasetCache> cache_;
};

TEST_F(TrialRunnerTest, TrainsReportsEveryEpochAndCompletes) {
  const TrialRunner runner(Options());
  std::vector<vmle::v1::EpochMetrics> epochs;
  TrialCallbacks callbacks;
  callbacks.on_epoch = [&](const vmle::v1::EpochMetrics& epoch, const vmle::v1::DatasetProfile& profile) {
    EXPECT_EQ(profile.num_users(), 200);
    epochs.push_back(epoch);
    return true;
  };
  const TrialOutcome outcome = runner.Run(testing::TinyAssignment("t1", 2), callbacks);
  ASSERT_EQ(outcome.kind, Kind::kCompleted) << outcome.failure.DebugString();
  ASSERT_EQ(epochs.size(), 2u);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(epochs[i].epoch(), i + 1);
    EXPECT_GT(epochs[i].train_loss(), 0.0);
    EXPECT_GT(epochs[i].validation().num_users(), 0);
    EXPECT_GT(epochs[i].samples_per_second(), 0.0);
  }
  const vmle::v1::CompleteTrialRequest& c = outcome.completion;
  EXPECT_GE(c.best_epoch(), 1);
  EXPECT_LE(c.best_epoch(), 2);
  EXPECT_EQ(c.validation().ndcg_at_10(), epochs[c.best_epoch() - 1].validation().ndcg_at_10());
  EXPECT_GT(c.test().num_users(), 0);
  EXPECT_GT(c.test().recall_at_20(), 0.0);
  EXPECT_EQ(c.dataset_profile().num_users(), 200);
  EXPECT_GT(c.train_seconds(), 0.0);
  EXPECT_FALSE(c.stopped_early());
}

TEST_F(TrialRunnerTest, StopFromTheCallbackKeepsTheBestEpoch) {
  const TrialRunner runner(Options());
  int calls = 0;
  TrialCallbacks callbacks;
  callbacks.on_epoch = [&](const vmle::v1::EpochMetrics&, const vmle::v1::DatasetProfile&) {
    return ++calls < 1;
  };
  const TrialOutcome outcome = runner.Run(testing::TinyAssignment("t1", 5), callbacks);
  ASSERT_EQ(outcome.kind, Kind::kCompleted) << outcome.failure.DebugString();
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(outcome.completion.stopped_early());
  EXPECT_EQ(outcome.completion.best_epoch(), 1);
  EXPECT_GT(outcome.completion.test().num_users(), 0);
}

TEST_F(TrialRunnerTest, CancelAbandonsTheTrial) {
  const TrialRunner runner(Options());
  std::atomic<bool> cancel{false};
  TrialCallbacks callbacks;
  callbacks.cancel = &cancel;
  callbacks.on_epoch = [&](const vmle::v1::EpochMetrics&, const vmle::v1::DatasetProfile&) {
    cancel = true;
    return true;
  };
  EXPECT_EQ(runner.Run(testing::TinyAssignment("t1", 5), callbacks).kind, Kind::kAbandoned);
}

TEST_F(TrialRunnerTest, WorkerOwnsDeviceThreadsSeedAndSelectionMetric) {
  TrialRunnerOptions options = Options();
  options.threads = 2;
  const TrialRunner runner(options);
  vmle::v1::TrialAssignment a = testing::TinyAssignment("t1", 2);
  (*a.mutable_config()->mutable_values())["device"].set_categorical_value("cuda:3");
  a.set_objective_metric(vmle::v1::METRIC_MRR);
  a.set_seed(1234);
  const auto config = runner.MakeTrainConfig(a);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->device, "cpu");
  EXPECT_EQ(config->threads, 2);
  EXPECT_EQ(config->seed, 1234u);
  EXPECT_EQ(config->select_metric, "mrr");
  EXPECT_EQ(config->model.hidden_dim, 16);

  a.set_objective_metric(vmle::v1::METRIC_UNSPECIFIED);
  EXPECT_EQ(runner.MakeTrainConfig(a)->select_metric, "ndcg@10");
  a.set_objective_metric(vmle::v1::METRIC_RECALL_AT_20);
  EXPECT_EQ(runner.MakeTrainConfig(a)->select_metric, "recall@20");
}

TEST_F(TrialRunnerTest, InvalidConfigurationFailsForGood) {
  const TrialRunner runner(Options());
  vmle::v1::TrialAssignment out_of_range = testing::TinyAssignment("t1", 2);
  (*out_of_range.mutable_config()->mutable_values())["hidden_dim"] = testing::IntValue(3);
  vmle::v1::TrialAssignment inconsistent = testing::TinyAssignment("t2", 2);
  (*inconsistent.mutable_config()->mutable_values())["num_heads"] = testing::IntValue(3);
  vmle::v1::TrialAssignment no_backbone = testing::TinyAssignment("t3", 2);
  no_backbone.set_backbone(vmle::v1::BACKBONE_UNSPECIFIED);
  for (const auto& [assignment, named] :
       {std::pair{out_of_range, "hidden_dim"}, {inconsistent, "num_heads"}, {no_backbone, "backbone"}}) {
    const TrialOutcome outcome = runner.Run(assignment, {});
    ASSERT_EQ(outcome.kind, Kind::kFailed) << assignment.trial_id();
    EXPECT_EQ(outcome.failure.failure_cause(), kCauseInvalidConfig);
    EXPECT_FALSE(outcome.failure.retryable());
    EXPECT_THAT(outcome.failure.error(), HasSubstr(named));
  }
}

TEST_F(TrialRunnerTest, UnreadableDatasetIsBadData) {
  const TrialRunner runner(Options());
  vmle::v1::TrialAssignment a = testing::TinyAssignment("t1", 2);
  a.mutable_dataset()->set_format(vmle::v1::DATASET_FORMAT_SEQUENTIAL);
  a.mutable_dataset()->set_path("../Beauty.txt");
  const TrialOutcome outcome = runner.Run(a, {});
  ASSERT_EQ(outcome.kind, Kind::kFailed);
  EXPECT_EQ(outcome.failure.failure_cause(), kCauseBadData);
  EXPECT_FALSE(outcome.failure.retryable());
  EXPECT_THAT(outcome.failure.error(), HasSubstr("'..'"));
}

TEST_F(TrialRunnerTest, MissingDeviceIsRetryable) {
  TrialRunnerOptions options = Options();
  options.device = "cuda:0";
  const TrialRunner runner(options);
  if (runner.CheckDevice().ok()) GTEST_SKIP() << "this machine has cuda:0";
  EXPECT_EQ(runner.CheckDevice().code(), absl::StatusCode::kFailedPrecondition);
  const TrialOutcome outcome = runner.Run(testing::TinyAssignment("t1", 2), {});
  ASSERT_EQ(outcome.kind, Kind::kFailed);
  EXPECT_EQ(outcome.failure.failure_cause(), kCauseDevice);
  EXPECT_TRUE(outcome.failure.retryable());
  EXPECT_THAT(outcome.failure.error(), HasSubstr("cuda:0"));
}

// The real trainer, failing the way Train reports a fault after one epoch.
TrainFunction FailingAfterOneEpoch(trainer::Status fault) {
  return [fault](const trainer::Dataset& data, const trainer::TrainConfig& config,
                 const trainer::TrainHooks& hooks) -> trainer::StatusOr<trainer::TrainResult> {
    trainer::TrainConfig one = config;
    one.max_epochs = 1;
    auto result = trainer::Train(data, one, hooks);
    if (!result.ok()) return result.status();
    return fault;
  };
}

TEST_F(TrialRunnerTest, TrainingFaultsAreClassified) {
  struct Case {
    trainer::Status fault;
    const char* cause;
    bool retryable;
  };
  const Case cases[] = {
      {trainer::InternalError("non-finite loss (nan) in epoch 2, batch 1; lower lr"), kCauseNan, false},
      {trainer::ResourceExhaustedError("out of memory: CUDA"), kCauseOutOfMemory, true},
      {trainer::FailedPreconditionError("device cuda:1 does not exist (1 CUDA devices)"), kCauseDevice,
       true},
      {trainer::FailedPreconditionError("no training targets: every user needs at least 4 items"),
       kCauseBadData, false},
      {trainer::InternalError("libtorch: something odd"), kCauseInternal, true},
      {trainer::DataLossError("checksum"), kCauseInternal, true},
  };
  for (const Case& c : cases) {
    const TrialRunner runner(Options(FailingAfterOneEpoch(c.fault)));
    int epochs = 0;
    TrialCallbacks callbacks;
    callbacks.on_epoch = [&](const vmle::v1::EpochMetrics&, const vmle::v1::DatasetProfile&) {
      ++epochs;
      return true;
    };
    const TrialOutcome outcome = runner.Run(testing::TinyAssignment("t1", 3), callbacks);
    ASSERT_EQ(outcome.kind, Kind::kFailed) << c.fault.ToString();
    EXPECT_EQ(outcome.failure.failure_cause(), c.cause) << c.fault.ToString();
    EXPECT_EQ(outcome.failure.retryable(), c.retryable) << c.fault.ToString();
    EXPECT_THAT(outcome.failure.error(), HasSubstr(c.fault.message()));
    EXPECT_EQ(epochs, 1);
  }
}

TEST_F(TrialRunnerTest, ExceptionsBecomeInternalFailures) {
  const TrialRunner runner(Options([](const trainer::Dataset&, const trainer::TrainConfig&,
                                      const trainer::TrainHooks&) -> trainer::StatusOr<trainer::TrainResult> {
    throw std::runtime_error("boom");
  }));
  const TrialOutcome outcome = runner.Run(testing::TinyAssignment("t1", 2), {});
  ASSERT_EQ(outcome.kind, Kind::kFailed);
  EXPECT_EQ(outcome.failure.failure_cause(), kCauseInternal);
  EXPECT_TRUE(outcome.failure.retryable());
  EXPECT_THAT(outcome.failure.error(), HasSubstr("boom"));
}

}  // namespace
}  // namespace vmle::worker
