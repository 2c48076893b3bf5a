// Validation of submitted study specs. A spec is checked field by field and returned
// with every default filled in, so the rest of the agent never sees an incomplete
// spec. Every refusal is INVALID_ARGUMENT with a message that starts with the
// offending field's path, e.g. "spec.budget.max_trials: must be in [1, 10000], got 0".
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "common/space/search_space.h"
#include "services/agent/planner/planner.h"
#include "vmle/v1/study.pb.h"

namespace vmle::agent {

struct SpecLimits {
  // Largest budget.max_trials.
  int max_trials = 10000;
  // Largest budget.parallelism.
  int max_parallelism = 256;
  // Longest study name and dataset path.
  size_t max_name_bytes = 200;
  size_t max_path_bytes = 1024;
  // Most parameters in spec.search_space and in spec.fixed, most choices of one
  // categorical parameter, most planner options and the longest option value: a
  // spec is read by every planning round, so its size is bounded.
  int max_space_params = 64;
  int max_categorical_choices = 256;
  int max_planner_options = 64;
  size_t max_option_bytes = 4096;
  // Planner used when spec.planner.name is empty.
  std::string default_planner = "heuristic";
};

// The validated spec with defaults: objective val NDCG@10 maximised, parallelism 1,
// max_failed_trials 3, max_trial_retries 2, backbone SASRec, early stopping off with
// grace 3 / min_trials 3 / reduction 3, the dataset format inferred from the file
// extension when unspecified, the dataset name from the file name.
absl::StatusOr<vmle::v1::StudySpec> NormalizeStudySpec(const vmle::v1::StudySpec& spec,
                                                       const SpecLimits& limits = {});

// The search space trials of a normalised spec are drawn from: the backbone's default
// narrowed by spec.search_space (parameters fixed by spec.fixed stay in it; their
// value is forced).
absl::StatusOr<space::SearchSpace> StudySearchSpace(const vmle::v1::StudySpec& spec);

// The search space a planner explores: StudySearchSpace without the fixed
// parameters. Built once per study (PlanningContext.space).
absl::StatusOr<space::SearchSpace> PlannerSearchSpace(const vmle::v1::StudySpec& spec);

// A planner's configuration with the spec's fixed values laid over it, complete over
// StudySearchSpace: validated and completed there, unless a planning round admitted
// it (PlannedTrial.admitted), which checked the same combination already; a
// configuration is validated once in the agent.
absl::StatusOr<vmle::v1::Configuration> TrialConfiguration(const vmle::v1::StudySpec& spec,
                                                           const space::SearchSpace& space,
                                                           const PlannedTrial& planned);

// Values stored before configurations were typed: a fixed training setting outside the
// search space was kept as the text its author wrote (grad_clip "1"). Reads each such
// text as its setting's type (train_config.h, ParseSetting) in place; typed values,
// choices and text that does not parse are left as they are.
void TypeStoredValues(vmle::v1::Configuration& config);

}  // namespace vmle::agent
