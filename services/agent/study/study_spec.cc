#include "services/agent/study/study_spec.h"

#include <cmath>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "common/space/space_proto.h"
#include "common/status/message.h"
#include "common/status/status_macros.h"
#include "services/agent/early_stop/early_stopping.h"
#include "services/agent/planner/planner_factory.h"

namespace vmle::agent {
namespace {

using vmle::v1::DatasetFormat;

absl::Status Invalid(absl::string_view field, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("spec.", field, ": ", what));
}

// Prefixes a nested validator's message with the spec path unless it already has it.
absl::Status Prefixed(absl::string_view prefix, const absl::Status& status) {
  if (status.ok()) return status;
  std::string message(status.message());
  if (!absl::StartsWith(message, "spec.")) {
    message = absl::StartsWith(message, prefix) ? absl::StrCat("spec.", message)
                                                : absl::StrCat("spec.", prefix, ": ", message);
  }
  return absl::Status(status.code(), message);
}

DatasetFormat InferFormat(const vmle::v1::DatasetSpec& d) {
  const std::string& p = d.path();
  if (absl::EndsWith(p, ".txt")) return vmle::v1::DATASET_FORMAT_SEQUENTIAL;
  if (absl::EndsWith(p, ".json") || absl::EndsWith(p, ".json.gz") || absl::EndsWith(p, ".jsonl") ||
      absl::EndsWith(p, ".jsonl.gz")) {
    return vmle::v1::DATASET_FORMAT_AMAZON_2014_JSON;
  }
  if (absl::EndsWith(p, ".inter")) return vmle::v1::DATASET_FORMAT_RECBOLE_INTER;
  if (absl::EndsWith(p, ".dat")) return vmle::v1::DATASET_FORMAT_MOVIELENS_DAT;
  if (absl::EndsWith(p, ".csv") || absl::EndsWith(p, ".csv.gz")) {
    return d.csv_user_column().empty() ? vmle::v1::DATASET_FORMAT_AMAZON_2023_CSV
                                       : vmle::v1::DATASET_FORMAT_CSV;
  }
  return vmle::v1::DATASET_FORMAT_UNSPECIFIED;
}

absl::Status CheckPath(const std::string& path, const SpecLimits& limits) {
  if (path.empty()) {
    return Invalid("dataset.path", "is required (a file under the workers' data root)");
  }
  if (path.size() > limits.max_path_bytes) {
    return Invalid("dataset.path", absl::StrCat(path.size(), " bytes exceed ", limits.max_path_bytes));
  }
  if (path.front() == '/') {
    return Invalid("dataset.path", "must be relative to the workers' data root, got \"" + TruncateForMessage(path) + "\"");
  }
  for (absl::string_view part : absl::StrSplit(path, '/')) {
    if (part == "..") return Invalid("dataset.path", "must not leave the data root (\"..\" in \"" + path + "\")");
  }
  if (path.find('\0') != std::string::npos) return Invalid("dataset.path", "contains a NUL byte");
  return absl::OkStatus();
}

absl::Status NormalizeDataset(vmle::v1::DatasetSpec& d, const SpecLimits& limits) {
  if (!vmle::v1::DatasetFormat_IsValid(d.format())) return Invalid("dataset.format", "unknown format");
  if (d.format() == vmle::v1::DATASET_FORMAT_SYNTHETIC) {
    if (d.synthetic_users() < 0 || d.synthetic_items() < 0) {
      return Invalid("dataset.synthetic_users", "users and items must be >= 0");
    }
    if (d.synthetic_users() == 0) d.set_synthetic_users(2000);
    if (d.synthetic_items() == 0) d.set_synthetic_items(500);
    if (d.synthetic_users() > 1000000 || d.synthetic_items() > 1000000) {
      return Invalid("dataset.synthetic_users", "at most 1,000,000 users and items");
    }
    if (d.name().empty()) {
      d.set_name(absl::StrCat("synthetic-", d.synthetic_users(), "x", d.synthetic_items(), "-s",
                              d.synthetic_seed()));
    }
  } else {
    RETURN_IF_ERROR(CheckPath(d.path(), limits));
    if (d.format() == vmle::v1::DATASET_FORMAT_UNSPECIFIED) d.set_format(InferFormat(d));
    if (d.format() == vmle::v1::DATASET_FORMAT_UNSPECIFIED) {
      return Invalid("dataset.format", "cannot be inferred from \"" + d.path() +
                                           "\"; set it (DATASET_FORMAT_SEQUENTIAL, ...)");
    }
    if (d.format() == vmle::v1::DATASET_FORMAT_CSV &&
        (d.csv_user_column().empty() || d.csv_item_column().empty())) {
      return Invalid("dataset.csv_user_column", "DATASET_FORMAT_CSV needs csv_user_column and csv_item_column");
    }
    if (d.name().empty()) {
      const size_t slash = d.path().rfind('/');
      d.set_name(slash == std::string::npos ? d.path() : d.path().substr(slash + 1));
    }
  }
  if (d.k_core() < 0) return Invalid("dataset.k_core", absl::StrCat("must be >= 0, got ", d.k_core()));
  if (d.max_history() < 0) {
    return Invalid("dataset.max_history", absl::StrCat("must be >= 0, got ", d.max_history()));
  }
  if (d.name().size() > limits.max_name_bytes) return Invalid("dataset.name", "too long");
  return absl::OkStatus();
}

absl::Status NormalizeBudget(vmle::v1::Budget& b, const SpecLimits& limits) {
  if (b.max_trials() < 1 || b.max_trials() > limits.max_trials) {
    return Invalid("budget.max_trials",
                   absl::StrCat("must be in [1, ", limits.max_trials, "], got ", b.max_trials()));
  }
  if (b.parallelism() == 0) b.set_parallelism(1);
  if (b.parallelism() < 1 || b.parallelism() > limits.max_parallelism) {
    return Invalid("budget.parallelism",
                   absl::StrCat("must be in [1, ", limits.max_parallelism, "], got ", b.parallelism()));
  }
  if (b.max_failed_trials() == 0) b.set_max_failed_trials(3);
  if (b.max_failed_trials() < 0) {
    return Invalid("budget.max_failed_trials", absl::StrCat("must be >= 0, got ", b.max_failed_trials()));
  }
  if (b.max_wall_seconds() < 0) {
    return Invalid("budget.max_wall_seconds", absl::StrCat("must be >= 0, got ", b.max_wall_seconds()));
  }
  if (b.has_target() && !std::isfinite(b.target_value())) {
    return Invalid("budget.target_value", "must be finite");
  }
  if (b.no_improvement_patience() < 0) {
    return Invalid("budget.no_improvement_patience",
                   absl::StrCat("must be >= 0, got ", b.no_improvement_patience()));
  }
  if (b.max_replicates() < -1 || b.max_replicates() > b.max_trials()) {
    return Invalid("budget.max_replicates",
                   absl::StrCat("must be -1 (none), 0 (an eighth of max_trials) or up to max_trials (",
                                b.max_trials(), "), got ", b.max_replicates()));
  }
  if (b.max_trial_retries() == 0) b.set_max_trial_retries(2);
  if (b.max_trial_retries() < 0 || b.max_trial_retries() > 100) {
    return Invalid("budget.max_trial_retries",
                   absl::StrCat("must be in [0, 100], got ", b.max_trial_retries()));
  }
  return absl::OkStatus();
}

absl::Status NormalizeObjective(vmle::v1::Objective& o) {
  if (o.metric() == vmle::v1::METRIC_UNSPECIFIED) o.set_metric(vmle::v1::METRIC_NDCG_AT_10);
  if (!vmle::v1::Metric_IsValid(o.metric())) return Invalid("objective.metric", "unknown metric");
  if (o.direction() == vmle::v1::DIRECTION_UNSPECIFIED) o.set_direction(vmle::v1::DIRECTION_MAXIMIZE);
  if (!vmle::v1::Direction_IsValid(o.direction())) return Invalid("objective.direction", "unknown direction");
  return absl::OkStatus();
}

absl::Status CheckDevice(const std::string& device) {
  if (device.empty() || device == "cpu" || device == "cuda") return absl::OkStatus();
  if (absl::StartsWith(device, "cuda:") && device.size() > 5 &&
      device.find_first_not_of("0123456789", 5) == std::string::npos) {
    return absl::OkStatus();
  }
  return Invalid("device", "expected \"\", cpu, cuda or cuda:N, got \"" + TruncateForMessage(device, 40) + "\"");
}

// Settings a worker or the agent decides; a study may not fix them.
const std::set<std::string>& ReservedSettings() {
  static const auto* names =
      new std::set<std::string>{"backbone", "threads", "device", "seed", "select_metric", "eval_batch_size"};
  return *names;
}

// The bounds of SpecLimits on repeated fields and maps.
absl::Status CheckSizes(const vmle::v1::StudySpec& spec, const SpecLimits& limits) {
  const auto& params = spec.search_space().params();
  if (params.size() > limits.max_space_params) {
    return Invalid("search_space.params", absl::StrCat(params.size(), " parameters exceed ", limits.max_space_params));
  }
  for (const vmle::v1::ParamSpec& param : params) {
    if (param.name().size() > limits.max_name_bytes) {
      return Invalid("search_space.params", absl::StrCat("a parameter name of ", param.name().size(),
                                                         " bytes exceeds ", limits.max_name_bytes));
    }
    if (param.categorical().choices_size() > limits.max_categorical_choices) {
      return Invalid(absl::StrCat("search_space.", param.name()),
                     absl::StrCat(param.categorical().choices_size(), " choices exceed ",
                                  limits.max_categorical_choices));
    }
  }
  if (spec.fixed().values_size() > limits.max_space_params) {
    return Invalid("fixed", absl::StrCat(spec.fixed().values_size(), " values exceed ", limits.max_space_params));
  }
  for (const auto& [name, value] : spec.fixed().values()) {
    if (name.size() > limits.max_name_bytes) {
      return Invalid("fixed", absl::StrCat("a parameter name of ", name.size(), " bytes exceeds ",
                                           limits.max_name_bytes));
    }
    if (value.categorical_value().size() > limits.max_option_bytes) {
      return Invalid("fixed." + name, absl::StrCat(value.categorical_value().size(), " bytes exceed ",
                                                   limits.max_option_bytes));
    }
  }
  const auto& options = spec.planner().options();
  if (static_cast<int>(options.size()) > limits.max_planner_options) {
    return Invalid("planner.options",
                   absl::StrCat(options.size(), " options exceed ", limits.max_planner_options));
  }
  for (const auto& [key, value] : options) {
    if (key.size() + value.size() > limits.max_option_bytes) {
      return Invalid("planner.options", absl::StrCat("an option of ", key.size() + value.size(),
                                                     " bytes exceeds ", limits.max_option_bytes));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<vmle::v1::StudySpec> NormalizeStudySpec(const vmle::v1::StudySpec& input,
                                                       const SpecLimits& limits) {
  vmle::v1::StudySpec spec = input;
  if (spec.name().size() > limits.max_name_bytes) {
    return Invalid("name", absl::StrCat(spec.name().size(), " bytes exceed ", limits.max_name_bytes));
  }
  RETURN_IF_ERROR(CheckSizes(spec, limits));
  RETURN_IF_ERROR(NormalizeDataset(*spec.mutable_dataset(), limits));
  if (spec.backbone() == vmle::v1::BACKBONE_UNSPECIFIED) spec.set_backbone(vmle::v1::BACKBONE_SASREC);
  if (absl::Status s = space::ToBackbone(spec.backbone()).status(); !s.ok()) {
    return Prefixed("backbone", s);
  }
  RETURN_IF_ERROR(NormalizeObjective(*spec.mutable_objective()));
  RETURN_IF_ERROR(NormalizeBudget(*spec.mutable_budget(), limits));
  if (spec.planner().name().empty()) spec.mutable_planner()->set_name(limits.default_planner);
  RETURN_IF_ERROR(Prefixed("planner", ValidatePlannerOptions(spec.planner())));
  vmle::v1::EarlyStoppingSpec& stopping = *spec.mutable_early_stopping();
  if (stopping.rule() == vmle::v1::EARLY_STOPPING_RULE_UNSPECIFIED) {
    stopping.set_rule(vmle::v1::EARLY_STOPPING_RULE_OFF);
  }
  if (stopping.grace_epochs() == 0) stopping.set_grace_epochs(3);
  if (stopping.min_trials() == 0) stopping.set_min_trials(3);
  if (stopping.reduction_factor() == 0) stopping.set_reduction_factor(3);
  RETURN_IF_ERROR(Prefixed("early_stopping", ValidateEarlyStopping(stopping)));
  RETURN_IF_ERROR(CheckDevice(spec.device()));
  ASSIGN_OR_RETURN(const space::SearchSpace space, StudySearchSpace(spec));
  for (const auto& [name, value] : spec.fixed().values()) {
    if (ReservedSettings().count(name) > 0) {
      return Invalid("fixed." + TruncateForMessage(name, 64), "is set by the agent or the worker, not by a study");
    }
  }
  absl::StatusOr<vmle::v1::Configuration> fixed = space::CompleteConfiguration(space, spec.fixed());
  if (!fixed.ok()) return Prefixed("fixed", fixed.status());
  // Each fixed value in its parameter's type (a whole 64.0 for hidden_dim becomes 64),
  // so trials carry it as the worker reads it.
  for (auto& [name, value] : *spec.mutable_fixed()->mutable_values()) value = fixed->values().at(name);
  return spec;
}

absl::StatusOr<space::SearchSpace> StudySearchSpace(const vmle::v1::StudySpec& spec) {
  absl::StatusOr<space::SearchSpace> space = space::EffectiveSpace(spec.backbone(), spec.search_space());
  if (!space.ok()) return Prefixed("search_space", space.status());
  return space;
}

absl::StatusOr<space::SearchSpace> PlannerSearchSpace(const vmle::v1::StudySpec& spec) {
  ASSIGN_OR_RETURN(space::SearchSpace space, StudySearchSpace(spec));
  std::vector<space::ParamSpec> kept;
  for (const space::ParamSpec& p : space.params) {
    if (spec.fixed().values().count(p.name) == 0) kept.push_back(p);
  }
  space.params = std::move(kept);
  return space;
}

absl::StatusOr<vmle::v1::Configuration> TrialConfiguration(const vmle::v1::StudySpec& spec,
                                                           const space::SearchSpace& space,
                                                           const PlannedTrial& planned) {
  vmle::v1::Configuration merged = planned.config;
  for (const auto& [name, value] : spec.fixed().values()) (*merged.mutable_values())[name] = value;
  // A planning round checked it already, with these fixed values (PlanningRound::Check).
  if (planned.admitted) return merged;
  return space::CompleteConfiguration(space, merged);
}

void TypeStoredValues(vmle::v1::Configuration& config) {
  for (auto& [name, value] : *config.mutable_values()) {
    if (value.kind_case() != vmle::v1::ParamValue::kCategoricalValue) continue;
    absl::StatusOr<space::Value> typed = space::ParseSetting(name, value.categorical_value());
    if (typed.ok() && typed->text_value() == nullptr) value = space::ToProto(*typed);
  }
}

}  // namespace vmle::agent
