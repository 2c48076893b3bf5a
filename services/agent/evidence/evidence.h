// Evidence that beats the noise. A study's trials grouped by configuration; the seed
// noise of the objective, measured on configurations run on several seeds; paired
// comparisons (runs on the same seed) with 95% intervals; and the incumbent, chosen by
// intensification as in SMAC: a challenger replaces it only with a gain clear of the
// noise on shared seeds, or, once it has run on Options::max_seeds seeds, by the mean.
//
// Definitions:
//  * A group is every run of one configuration (the same value of every parameter);
//    its value is the mean over its finished runs. Failed runs count as runs without a
//    value.
//  * Noise: the pooled standard deviation within groups of two or more finished
//    runs, absolute and relative to their means. Decisions use it shrunk toward
//    Options::prior_relative_sd (worth two degrees of freedom) until replicates
//    measure it.
//  * Compare(a, b): per seed that both ran, the relative difference (a - b) / |b|.
//    Runs on one seed share initialisation and batch order, so a paired difference
//    varies by about one relative sd (correlation one half); that is the prior spread
//    of a paired difference, shrunk toward the observed spread as pairs accumulate
//    (the prior counts as one pair). Without a shared seed, the difference of means
//    with the noise of both. The interval is mean ± t(0.975) × standard error.
//  * Incumbent: groups are taken in the order they first ran; the first with a value
//    is the incumbent; a later group replaces it when its gain over it is clear, or
//    when it has run on max_seeds seeds paired with it and its mean gain exceeds the
//    tie (a tie within Options::tie goes to the simpler configuration, by
//    Options::simpler). A group with a positive gain that is neither is a contender:
//    NextReplicate asks for the run that decides it.
//
// Thread-safe: immutable once read.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "vmle/v1/common.pb.h"
#include "vmle/v1/study.pb.h"

namespace vmle::agent::evidence {

struct Options {
  // Relative seed noise assumed before replicates measure it.
  double prior_relative_sd = 0.02;
  // Seeds a challenger runs on, paired with the incumbent, before its mean decides.
  int max_seeds = 3;
  // Relative gain below which two configurations tie.
  double tie = 0.005;
  // Whether the configuration of history trial `a` is simpler than that of `b`
  // (ties go to it); empty: the earlier one wins ties.
  std::function<bool(int a, int b)> simpler;
  // Intensification as above. Off, for planners that never replicate: the incumbent
  // is the configuration with the best mean (ties within `tie` to the simpler).
  bool intensify = true;
};

// One run of a configuration.
struct Run {
  int index = 0;  // in the history
  int number = 0;
  uint64_t seed = 0;
  // The objective oriented so that larger is better; -infinity for a failed run.
  double score = 0;
  bool finished() const;
};

struct Group {
  std::vector<Run> runs;
  int Finished() const;
  // Mean and sample sd of the finished runs (-infinity / 0 when there are none).
  double Mean() const;
  double Sd() const;
  // The mean of the finished runs on `seed`, if any.
  std::optional<double> On(uint64_t seed) const;
  // The first run, by which the group is named ("trial N").
  const Run& first() const { return runs.front(); }
};

// A relative change with its uncertainty.
struct Effect {
  // Paired comparisons behind it (seeds both ran), or 1 for a difference of means.
  int comparisons = 0;
  bool paired = false;
  double mean = 0;
  double low = 0;
  double high = 0;
  // The interval excludes zero.
  bool Clear() const { return comparisons > 0 && (low > 0 || high < 0); }
  // "+2.3% ± 1.1% (3 paired seeds)".
  std::string Text() const;
};

// The effect of relative differences, each one independent comparison: their mean,
// and a 95% interval whose spread is their sample sd shrunk toward `prior_sd` (worth
// one comparison).
Effect EffectOf(const std::vector<double>& differences, double prior_sd, bool paired = true);

// Two-sided 97.5% quantile of Student's t with `df` degrees of freedom (1.96 for large df).
double TQuantile975(int df);

// A run that would decide a contender: rerun the configuration of trial
// `replicate_of` on the seed of trial `seed_from` (0: a new seed).
struct ReplicateRequest {
  int replicate_of = 0;
  int seed_from = 0;
  // "trial 7 (+1.2% ± 2.0% over trial 3 on 1 paired seed) on the seed of trial 4".
  std::string reason;
};

class StudyEvidence {
 public:
  // The finished trials of a study (succeeded, stopped and failed; others are
  // ignored), each a run of its configuration on its seed.
  static StudyEvidence Read(const std::vector<vmle::v1::Trial>& trials, vmle::v1::Direction direction,
                            Options options);
  // The same over trials held elsewhere (not copied; they must outlive the call);
  // `keys`, when given, holds ConfigurationKey of each trial's configuration.
  static StudyEvidence Read(const std::vector<const vmle::v1::Trial*>& trials, vmle::v1::Direction direction,
                            Options options, const std::vector<const std::string*>* keys = nullptr);

  const std::vector<Group>& groups() const { return groups_; }
  // The group of a trial of the history, by index; -1 for trials not read.
  int GroupOf(int index) const;
  // The group holding a trial number; -1 when none.
  int GroupOfNumber(int number) const;

  // The measured noise (degrees_of_freedom 0: not measured yet), in the objective's units.
  const vmle::v1::NoiseEstimate& noise() const { return noise_; }
  // The relative sd decisions use: the measurement shrunk toward the prior.
  double RelativeSd() const;

  Effect Compare(int challenger, int reference) const;
  // The relative differences behind Compare: one per seed both ran (paired), or the
  // one difference of their means when they share no seed (`paired` false).
  std::vector<double> Differences(int challenger, int reference, bool* paired) const;
  // The incumbent group; -1 when no run has a value.
  int Incumbent() const { return incumbent_; }
  // The contender closest to replacing the incumbent and the run that decides it,
  // if any (a contender's missing pair first, else the incumbent on a new seed).
  std::optional<ReplicateRequest> NextReplicate() const;

 private:
  StudyEvidence() = default;
  void EstimateNoise();
  void ChooseIncumbent();
  int PairsWith(int group, int reference) const;

  Options options_;
  std::vector<Group> groups_;
  std::vector<int> group_of_;
  std::vector<std::pair<int, int>> numbers_;  // (trial number, group)
  vmle::v1::NoiseEstimate noise_;
  int incumbent_ = -1;
};

// The text key of a configuration: every value, in parameter-name order.
std::string ConfigurationKey(const vmle::v1::Configuration& config);

// The replicates a study may run (Budget.max_replicates: 0 = an eighth of
// max_trials, at least 2; -1 = none).
int ReplicateBudget(const vmle::v1::Budget& budget);
// Whether intensification still applies: the study replicates and fewer than its
// budget of replicates have finished (`replicates_done`). Once they are spent, the
// mean decides (Options::intensify false).
bool Intensifying(const vmle::v1::Budget& budget, int replicates_done);

// A new seed for trial `number` of a study (SplitMix64 of the study seed and the
// number): what a trial trains on unless its proposal's seed plan names a trial whose
// seed it shares (Proposal.seed_from).
uint64_t FreshSeed(uint64_t study_seed, int number);

}  // namespace vmle::agent::evidence
