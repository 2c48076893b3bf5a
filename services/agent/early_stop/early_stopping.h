// Early stopping of trials from their per-epoch validation curves (DESIGN.md, "The
// closed loop", step 4): the agent asks after every epoch a worker reports whether
// the trial should go on.
//
// Rules (EarlyStoppingSpec.rule):
//  * off (or unspecified): always continue.
//  * median: from epoch grace_epochs on, stop when the trial's best value so far at
//    epoch e is worse than the median of the other trials' best values so far at e,
//    counting only trials whose curves reached e, and only when at least min_trials
//    did (Golovin et al., "Google Vizier", 2017).
//  * successive halving, asynchronous (Li et al., "ASHA", 2020): rungs at epochs
//    grace_epochs * eta^k (k = 0, 1, ...; eta = reduction_factor). When the trial's
//    curve ends exactly at a rung, it continues only if its best value so far is
//    among the top max(1, floor(n / eta)) of the n values recorded at that rung (its
//    own and those of the other trials that reached it); with fewer than min_trials
//    other values there, it continues. Between rungs it continues.
// Defaults for unset (zero) fields: grace_epochs 3, min_trials 3, reduction_factor 3.
// "Better" follows the objective's direction (unspecified = maximise); NaN values
// count as worst. Curves are indexed from epoch 1: curve[0] is epoch 1.
//
// Pure functions; thread-safe.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "vmle/v1/study.pb.h"

namespace vmle::agent {

struct EarlyStoppingDecision {
  bool stop = false;
  // Why, for the study's event log, e.g. "epoch 4: best 0.031 below the median 0.042
  // of 5 trials".
  std::string reason;
};

// INVALID_ARGUMENT naming the field (early_stopping.rule, .grace_epochs, .min_trials,
// .reduction_factor) when a value is out of range.
absl::Status ValidateEarlyStopping(const vmle::v1::EarlyStoppingSpec& spec);

// Whether the trial with objective curve `current` (its epochs so far) should stop,
// given the objective curves of the study's other trials (finished or running).
EarlyStoppingDecision DecideEarlyStop(const vmle::v1::EarlyStoppingSpec& spec, vmle::v1::Direction direction,
                                      const std::vector<std::vector<double>>& others,
                                      const std::vector<double>& current);

}  // namespace vmle::agent
