#include "services/trainer/train/trainer.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "services/trainer/data/readers.h"
#include "services/trainer/data/split.h"
#include "services/trainer/data/synthetic.h"
#include "services/trainer/eval/evaluator.h"
#include "services/trainer/util/configuration.h"

namespace vmle::trainer {
namespace {

Dataset SmallSynthetic() {
  SyntheticOptions options;
  options.num_users = 1500;
  options.num_items = 400;
  options.seed = 5;
  return GenerateSynthetic(options);
}

TrainConfig FastConfig() {
  auto c = ApplyTextSettings(TrainConfig{}, {{"hidden_dim", "32"}, {"max_len", "20"},
                                         {"lr", "0.003"}, {"max_epochs", "6"},
                                         {"num_negatives", "100"}, {"batch_size", "128"},
                                         {"threads", "1"}, {"seed", "11"}});
  EXPECT_TRUE(c.ok());
  return *c;
}

// Popularity ranking (training counts) under the same protocol.
RankingMetrics PopularityMetrics(const Dataset& dataset) {
  const TrainingPriors priors = ComputeTrainingPriors(dataset);
  std::vector<float> pop(priors.popularity.begin(), priors.popularity.end());
  MetricAccumulator acc;
  for (const EvalCase& c : MakeEvalCases(dataset, EvalSplit::kTest)) {
    auto scores = torch::tensor(pop).view({1, -1}).clone();
    const auto& seq = dataset.sequences[c.user_id - 1];
    std::vector<int64_t> cols(seq.begin(), seq.begin() + c.history_length);
    const auto rows = torch::zeros({static_cast<int64_t>(cols.size())}, torch::kLong);
    // Ties broken against the target (counting equal scores as higher) to be fair.
    scores.add_(torch::rand_like(scores) * 1e-3);
    const auto r = RankTargets(scores, torch::tensor({static_cast<int64_t>(c.target)}).view({1, 1}),
                               rows, torch::tensor(cols, torch::kLong));
    acc.Add(r[0].item<int64_t>());
  }
  return acc.Finish();
}

// The test metrics of `result` are well above popularity ranking on `data`.
void ExpectBeatsPopularity(const Dataset& data, const TrainResult& result) {
  const RankingMetrics pop = PopularityMetrics(data);
  EXPECT_GT(result.test.recall_at_10, 1.5 * pop.recall_at_10)
      << "model " << result.test.recall_at_10 << " vs popularity " << pop.recall_at_10;
  EXPECT_GT(result.test.ndcg_at_10, 1.5 * pop.ndcg_at_10);
}

TEST(TrainerTest, ShortRunOnSyntheticDataBeatsPopularity) {
  const Dataset data = SmallSynthetic();
  int epochs_seen = 0;
  TrainHooks hooks;
  hooks.on_epoch = [&](const EpochReport& e) {
    ++epochs_seen;
    EXPECT_EQ(e.epoch, epochs_seen);
    EXPECT_TRUE(std::isfinite(e.train_loss));
    EXPECT_GT(e.validation.num_users, 0);
    return true;
  };
  const auto result = Train(data, FastConfig(), hooks);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(epochs_seen, static_cast<int>(result->epochs.size()));
  EXPECT_GE(result->best_epoch, 1);
  ExpectBeatsPopularity(data, *result);
  // Validation of the selected epoch is the best recall@10 seen.
  for (const auto& e : result->epochs) {
    EXPECT_LE(e.validation.recall_at_10, result->validation.recall_at_10);
  }
}

TEST(TrainerTest, HstuReferenceConfigurationLearnsOnSyntheticData) {
  const Dataset data = SmallSynthetic();
  // The HSTU reference configuration, smaller and with fewer epochs.
  const auto config = ValidateConfiguration(
      DefaultSearchSpace(Backbone::kHSTU),
      {{"hidden_dim", Value::Int(32)}, {"max_len", Value::Int(20)}, {"lr", Value::Float(0.003)},
       {"max_epochs", Value::Int(6)}, {"num_negatives", Value::Int(100)}, {"threads", Value::Int(1)},
       {"seed", Value::Int(11)}});
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  ASSERT_EQ(config->backbone, Backbone::kHSTU);
  const auto result = Train(data, *config);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  ExpectBeatsPopularity(data, *result);
  // Selection on validation NDCG@10, the reference's metric.
  for (const auto& e : result->epochs) {
    EXPECT_LE(e.validation.ndcg_at_10, result->validation.ndcg_at_10);
  }
}

TEST(TrainerTest, FixedSeedIsDeterministicOnCpu) {
  const Dataset data = SmallSynthetic();
  auto config = FastConfig();
  config.max_epochs = 2;
  const auto a = Train(data, config);
  const auto b = Train(data, config);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_EQ(a->epochs.size(), b->epochs.size());
  for (size_t i = 0; i < a->epochs.size(); ++i) {
    EXPECT_EQ(a->epochs[i].train_loss, b->epochs[i].train_loss);
    EXPECT_EQ(a->epochs[i].validation.ndcg_at_10, b->epochs[i].validation.ndcg_at_10);
  }
  EXPECT_EQ(a->test.mrr, b->test.mrr);
  config.seed = 12;
  const auto c = Train(data, config);
  ASSERT_TRUE(c.ok());
  EXPECT_NE(a->epochs[0].train_loss, c->epochs[0].train_loss);
}

// A larger epoch budget never ends below a smaller one on the same seed, on real data:
// the first 300 users of LastFM (long histories, where patience decides when a run
// ends), max_epochs 20 against 40, with patience 3 and a minimum delta of 1%.
TEST(TrainerTest, OnLastFmTheSameSeedWithFortyEpochsNeverEndsBelowTwenty) {
  const std::string path = std::string(VMLE_SHARED_DATA_DIR) + "/LastFM.txt";
  auto full = ReadDataset(path, DatasetFormat::kSequential);
  if (!full.ok()) GTEST_SKIP() << "LastFM is not at " << path;
  Dataset data;
  std::set<int32_t> items;
  for (size_t u = 0; u < 300 && u < full->sequences.size(); ++u) {
    data.sequences.push_back(full->sequences[u]);
    items.insert(full->sequences[u].begin(), full->sequences[u].end());
  }
  // Dense item ids over the slice.
  std::map<int32_t, int32_t> dense;
  for (int32_t item : items) dense.emplace(item, static_cast<int32_t>(dense.size()) + 1);
  for (auto& seq : data.sequences) {
    for (int32_t& item : seq) item = dense.at(item);
  }
  data.num_users = static_cast<int64_t>(data.sequences.size());
  data.num_items = static_cast<int64_t>(dense.size());
  for (uint64_t seed : {1, 2}) {
    TrainConfig config = FastConfig();
    config.seed = seed;
    config.early_stop_patience = 3;
    config.early_stop_min_delta = 0.01;
    config.max_epochs = 20;
    const auto twenty = Train(data, config);
    config.max_epochs = 40;
    const auto forty = Train(data, config);
    ASSERT_TRUE(twenty.ok() && forty.ok());
    const std::string metric = config.select_metric;
    EXPECT_GE(forty->validation.Get(metric), twenty->validation.Get(metric)) << "seed " << seed;
    // The common epochs are the same run.
    for (size_t e = 0; e < twenty->epochs.size(); ++e) {
      EXPECT_EQ(forty->epochs[e].validation.Get(metric), twenty->epochs[e].validation.Get(metric));
    }
  }
}

// Patience counts only epochs that beat the best by the minimum delta: with a large
// delta a run stops sooner, and it still keeps its best epoch.
TEST(TrainerTest, MinimumDeltaShortensPatienceButKeepsTheBestEpoch) {
  const Dataset data = SmallSynthetic();
  TrainConfig config = FastConfig();
  config.max_epochs = 12;
  config.early_stop_patience = 2;
  const auto plain = Train(data, config);
  config.early_stop_min_delta = 0.5;
  const auto strict = Train(data, config);
  ASSERT_TRUE(plain.ok() && strict.ok());
  EXPECT_LE(strict->epochs.size(), plain->epochs.size());
  double best = -1;
  for (const auto& e : strict->epochs) best = std::max(best, e.validation.Get(config.select_metric));
  EXPECT_EQ(strict->validation.Get(config.select_metric), best);
  config.early_stop_min_delta = 1.5;
  EXPECT_FALSE(ValidateTrainConfig(config).ok());
}

// balance_targets weighs each batch by its share of the epoch's targets: with the
// whole training split in one batch that share is 1 and nothing changes; with length
// buckets of very different target counts the updates differ.
TEST(TrainerTest, BalancedTargetsReweighBatchesAndLeaveASingleBatchAlone) {
  const Dataset data = SmallSynthetic();
  auto run = [&](int64_t batch_size, bool balance) {
    TrainConfig config = FastConfig();
    config.max_epochs = 2;
    config.batch_size = batch_size;
    config.balance_targets = balance;
    auto result = Train(data, config);
    EXPECT_TRUE(result.ok()) << result.status().ToString();
    return result.ok() ? result->epochs.back().train_loss : -1.0;
  };
  EXPECT_EQ(run(65536, true), run(65536, false));
  const double balanced = run(64, true), plain = run(64, false);
  EXPECT_TRUE(std::isfinite(balanced));
  EXPECT_NE(balanced, plain);
}

TEST(TrainerTest, CallerCanStopAfterAnEpochAndBestIsKept) {
  auto config = FastConfig();
  TrainHooks hooks;
  hooks.on_epoch = [](const EpochReport& e) { return e.epoch < 2; };
  const auto result = Train(SmallSynthetic(), config, hooks);
  ASSERT_TRUE(result.ok());
  EXPECT_TRUE(result->stopped_by_caller);
  EXPECT_EQ(result->epochs.size(), 2u);
  EXPECT_GT(result->test.num_users, 0);
}

TEST(TrainerTest, CancelFlagEndsTrainingWithCancelled) {
  std::atomic<bool> cancel{true};
  TrainHooks hooks;
  hooks.cancel = &cancel;
  const auto result = Train(SmallSynthetic(), FastConfig(), hooks);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kCancelled);
}

TEST(TrainerTest, MissingDeviceIsAClearError) {
  auto config = FastConfig();
  config.device = "cuda:7";
  const auto result = Train(SmallSynthetic(), config);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(result.status().message().find("cuda:7"), std::string::npos);
}

TEST(TrainerTest, DatasetTooShortToSplitIsRefused) {
  Dataset tiny;
  tiny.num_users = 2;
  tiny.num_items = 3;
  tiny.sequences = {{1, 2}, {2, 3}};
  const auto result = Train(tiny, FastConfig());
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace vmle::trainer

namespace vmle::trainer {
namespace {

// Prior weights in range always make a valid configuration: above a sum of 1 they are
// scaled to sum to 1, below it they are kept.
TEST(PriorWeightsTest, WeightsSummingAboveOneAreScaledToOne) {
  TrainConfig c;
  c.transition_prior_weight = 0.8;
  c.itemcf_prior_weight = 0.6;
  c.popularity_prior_weight = 0.2;
  c.rerank_topk = 20;
  c.rerank_itemcf_weight = 0.3;
  ASSERT_TRUE(ValidateTrainConfig(c).ok());
  const PriorWeights w = PriorWeightsOf(c);
  EXPECT_NEAR(w.transition, 0.5, 1e-12);
  EXPECT_NEAR(w.itemcf, 0.375, 1e-12);
  EXPECT_NEAR(w.popularity, 0.125, 1e-12);
  EXPECT_DOUBLE_EQ(w.rerank_itemcf, 0.3);
  EXPECT_TRUE(w.reranks());
  EXPECT_TRUE(w.uses_itemcf());
}

}  // namespace
}  // namespace vmle::trainer
