// The tunable search space of each backbone, as data: every parameter's type, bounds,
// scale, choices, default and the condition under which it matters. One table per
// backbone; the agent's planners sample from it, the study validator checks
// narrowings and fixed parameters against it, and the trainer validates the
// configurations it is given with it. Values are typed (value.h) throughout; text is
// parsed only at the edges where people write it (ParseValue).
//
// Thread-safe: the tables are immutable after first use.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/space/train_config.h"
#include "common/space/value.h"

namespace vmle::space {

enum class ParamType { kInt, kFloat, kCategorical, kBool };

// One tunable hyperparameter.
struct ParamSpec {
  std::string name;
  ParamType type = ParamType::kFloat;
  // kInt and kFloat: the closed interval [min, max].
  double min = 0;
  double max = 0;
  // Sample and step on a log scale (requires min > 0).
  bool log_scale = false;
  // kInt: when > 0 the value must be min + n * step.
  int64_t step = 0;
  // kCategorical: the allowed values.
  std::vector<std::string> choices;
  // The value used when a configuration does not name the parameter (the backbone's
  // reference configuration); unset in a narrowing that keeps the base default.
  Value default_value;
  // One line for humans and LLM planners.
  std::string description;
  // When set, the parameter only matters while `condition_param` has the value
  // `condition_value` (e.g. num_negatives only with loss = sampled_softmax).
  std::string condition_param;
  std::string condition_value;
};

struct SearchSpace {
  Backbone backbone = Backbone::kSASRec;
  std::vector<ParamSpec> params;

  // The parameter with this name, or nullptr.
  const ParamSpec* Find(std::string_view name) const;
};

// The full search space of a backbone; its defaults are the reference configuration.
const SearchSpace& DefaultSearchSpace(Backbone backbone);

// The training configuration a trial of `backbone` starts from before its settings
// are applied: the reference values of the parameters outside the search space too
// (optimizer betas, gradient clipping, ...).
TrainConfig BackboneBaseConfig(Backbone backbone);

// Checks one parameter's definition: bounds ordered, log scale only with min > 0,
// integer bounds whole, choices present and distinct, the default inside the domain.
// The error names the parameter.
absl::Status ValidateParamSpec(const ParamSpec& spec);

// `value` in its parameter's type, checked against bounds, step and choices: an
// integer parameter takes an integer or a whole real number (returned as an integer),
// a real one an integer or a real number (returned as a real number), a categorical
// one one of its choices as text, a bool one a bool. The error names the parameter,
// what was expected and what was given.
absl::StatusOr<Value> ConformValue(const ParamSpec& spec, const Value& value);
absl::Status ValidateValue(const ParamSpec& spec, const Value& value);

// The value a person or a language model wrote as `text` for `spec` (integers in
// decimal, real numbers, true/false, a choice), conformed as above.
absl::StatusOr<Value> ParseValue(const ParamSpec& spec, std::string_view text);

// A study's narrowing of the default space: every parameter must exist in `base`
// with the same type, its bounds inside the base bounds, its choices a subset of the
// base choices, its default inside its own domain. Parameters not narrowed keep the
// base definition. The error names the parameter.
absl::StatusOr<SearchSpace> NarrowSearchSpace(const SearchSpace& base, const std::vector<ParamSpec>& narrowing);

// A configuration for `space`: every named parameter is either in the space (and its
// value inside its domain there) or a fixed training setting ApplySettings knows
// (threads, device, seed, ...); then the combination is checked (e.g. num_heads
// dividing hidden_dim). Returns the complete training configuration, space defaults
// filled in. The error names the parameter.
absl::StatusOr<TrainConfig> ValidateConfiguration(const SearchSpace& space, const Settings& settings);

// `settings` with every parameter of the space that it does not name added at its
// default, in space order after the given ones.
Settings WithDefaults(const SearchSpace& space, const Settings& settings);

// "int", "float", "categorical", "bool".
std::string_view ParamTypeName(ParamType type);

// The backbone's name as configurations spell it ("sasrec", "hstu").
std::string_view BackboneName(Backbone backbone);

}  // namespace vmle::space
