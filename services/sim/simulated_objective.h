// A simulated SASRec training run: a deterministic, cheap stand-in for a trainer, used
// by planner tests, the simulated worker and the scheduler benchmark.
//
// Contract:
//  * Input: a configuration named as in the SASRec default search space
//    (common/space/search_space.h); parameters it does not name take the
//    space's defaults, names outside the space are ignored. Numeric values may be
//    int, float or text; out-of-range values are clamped, never refused.
//  * Run(config, trial_seed) is a pure function of (dataset, config, trial_seed): the
//    same arguments give bit-identical results on every platform. Seed noise is a
//    run-level offset plus per-epoch jitter, half of the variance of each shared by
//    every configuration run on the same seed (initialisation and batch order, as
//    with common random numbers); max_epochs and early_stop_patience do not change
//    the epochs, so on one seed a larger epoch budget never ends below a smaller one.
//  * Output: per-epoch validation MetricValues (NDCG@10 is the primary value; the
//    other metrics are fixed multiples of it, so every metric ranks trials alike), the
//    epoch the trainer would keep (best validation NDCG@10, with the trainer's early
//    stopping after early_stop_patience epochs without improvement and at
//    max_epochs), that epoch's validation metrics and test metrics within a few
//    percent of them.
//  * ExpectedValue(config) is the noise-free best validation NDCG@10 over
//    max_epochs; Optimum() is its maximum over the valid configurations of the
//    default space, found at construction by coordinate ascent from the analytic
//    optimum of the smooth knobs (the landscape is a sum of per-knob terms with a few
//    smooth interactions, so the ascent reaches the top; the tests check that no
//    sampled valid configuration exceeds it). ExpectedValue(OptimalConfiguration())
//    == Optimum(). Noisy runs may exceed it by the noise.
//
// Structure (what a planner can learn): a smooth optimum in log lr, log hidden_dim
// and dropout, with interactions (the best lr rises with batch_size and falls with
// hidden_dim; wider models want more dropout); learning curves that rise, plateau and
// overfit (faster with low dropout and high lr), stay low with too small an lr and
// diverge with an lr far above the optimum; categorical effects that depend on the
// dataset (loss: sampled_softmax > full_softmax > bce on large catalogues,
// full_softmax first on small ones; tied embeddings, popularity and transition priors
// around 0.2 help on short sequences; rope and more blocks help on long ones).
// Datasets derived with Related() keep the structure and move the optimum slightly;
// an unrelated preset (MovieLensLike) differs in regime and optimum.
//
// Thread-safe: a SimulatedObjective is immutable after construction.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/call_once.h"
#include "vmle/v1/common.pb.h"
#include "vmle/v1/study.pb.h"

namespace vmle::agent::sim {

// What distinguishes one simulated dataset from another.
struct SimulatedDataset {
  std::string name = "sim";
  // Seeds the per-trial noise (with the trial seed).
  uint64_t seed = 0;
  // Shifts of the optimum from the reference: in decades of lr, in octaves of
  // hidden_dim, in dropout, and in the best prior weights.
  double lr_shift = 0.0;
  double hidden_shift = 0.0;
  double dropout_shift = 0.0;
  double prior_shift = 0.0;
  // Mean history length; below 10 is a short-sequence domain.
  double mean_length = 8.9;
  // Catalogue size; above 5000 is a large catalogue.
  int64_t num_items = 12101;
  int64_t num_users = 22363;
  // Scale of validation NDCG@10 (the optimum is close to it).
  double peak = 0.065;
  // Scale of the seed noise: 0.012 gives the reference configuration of the
  // Beauty-like dataset a relative sd of its validation NDCG@10 close to the 1.0%
  // measured with the real trainer on Amazon Beauty (5 seeds).
  double noise = 0.012;
};

// An Amazon-Beauty-like dataset: short sequences, large catalogue.
SimulatedDataset BeautyLike(uint64_t seed = 1);
// A MovieLens-1M-like dataset: long sequences, small catalogue, another optimum.
SimulatedDataset MovieLensLike(uint64_t seed = 2);
// A dataset of the same domain as `base`: the optimum moved by small amounts drawn
// from `seed`, the same regime (short/long, catalogue size class).
SimulatedDataset Related(const SimulatedDataset& base, std::string name, uint64_t seed);

// One simulated training run.
struct SimulatedTrial {
  // Epochs run, 1-based, with validation metrics and simulated timings.
  std::vector<vmle::v1::EpochMetrics> epochs;
  // The epoch kept (best validation NDCG@10), 1-based.
  int best_epoch = 0;
  vmle::v1::MetricValues validation;
  vmle::v1::MetricValues test;
  // The lr was far too high: the loss blew up after the first epoch. A real trainer
  // would fail the trial with failure_cause "nan"; callers decide.
  bool diverged = false;
};

class SimulatedObjective {
 public:
  explicit SimulatedObjective(SimulatedDataset dataset);

  const SimulatedDataset& dataset() const { return dataset_; }

  // A training run of `config` whose noise is seeded by `trial_seed`.
  SimulatedTrial Run(const vmle::v1::Configuration& config, uint64_t trial_seed) const;

  // The noise-free best validation NDCG@10 of `config` within its max_epochs.
  double ExpectedValue(const vmle::v1::Configuration& config) const;

  // The largest ExpectedValue over valid configurations, and a configuration that
  // reaches it (every parameter of the default space set). Searched on the first call
  // (a coordinate search of a few thousand ExpectedValue calls), not by Run.
  double Optimum() const { return FindPeak().value; }
  const vmle::v1::Configuration& OptimalConfiguration() const { return FindPeak().config; }

 private:
  struct Peak {
    absl::once_flag once;
    vmle::v1::Configuration config;
    double value = 0.0;
  };
  const Peak& FindPeak() const;

  SimulatedDataset dataset_;
  // Shared by copies (the same dataset has the same optimum).
  std::shared_ptr<Peak> peak_ = std::make_shared<Peak>();
};

// The value of `metric` in `values` (NDCG@10 for METRIC_UNSPECIFIED).
double MetricOf(const vmle::v1::MetricValues& values, vmle::v1::Metric metric);

}  // namespace vmle::agent::sim
