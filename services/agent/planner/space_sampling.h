// Sampling and encoding of configurations over a search space, shared by the
// classical planners (grid, random, tpe).
//
// A planner receives the study's space as typed tables (PlanningContext.space,
// common/space/search_space.h), so values are checked by the same code the workers
// use. Values are typed wire ParamValues throughout.
//
// The unit encoding maps a numeric parameter onto [0, 1]: linear in the value, or in
// its logarithm when log_scale is set; integers occupy equal slices of [0, 1] (on a
// linear scale) so a uniform u gives every integer the same probability. Categorical
// and bool parameters are encoded by the index of their choice (bool: false = 0,
// true = 1).
//
// Conditional parameters (ParamSpec.condition_param/condition_value) that are
// inactive in a configuration are set to their default, so two configurations that
// differ only in parameters without effect are the same configuration.
//
// Thread-safe: every function is pure; randomness comes from the caller's Rng.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/space/search_space.h"
#include "vmle/v1/common.pb.h"

namespace vmle::agent {

// A small deterministic generator (SplitMix64): the same seed gives the same stream on
// every platform and standard library, unlike the std distributions.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next();
  // Uniform in [0, 1).
  double Uniform();
  // Uniform integer in [0, n); n > 0.
  int64_t Below(int64_t n);
  // Standard normal (Box-Muller).
  double Normal();

 private:
  uint64_t state_;
};

// A seed for the `index`-th draw of a study seeded with `seed` (a hash of both).
uint64_t DeriveSeed(uint64_t seed, uint64_t index);

// The parameter's default as a typed value.
vmle::v1::ParamValue DefaultValue(const space::ParamSpec& param);

// One value drawn independently: uniform over the unit encoding (log-uniform for
// log-scale parameters, uniform over integers and over choices).
vmle::v1::ParamValue SampleValue(const space::ParamSpec& param, Rng& rng);

// Numeric parameters: the unit coordinate of `value` (clamped into [0, 1]), and the
// value at unit coordinate `u` (integers rounded and snapped to min + n * step, always
// inside the bounds).
double ToUnit(const space::ParamSpec& param, const vmle::v1::ParamValue& value);
vmle::v1::ParamValue FromUnit(const space::ParamSpec& param, double u);

// Categorical and bool parameters: the number of choices, the index of `value`
// (0 when it is not a choice), and the value of a choice index.
int NumChoices(const space::ParamSpec& param);
int ChoiceIndex(const space::ParamSpec& param, const vmle::v1::ParamValue& value);
vmle::v1::ParamValue FromChoice(const space::ParamSpec& param, int index);

// True for int and float parameters.
bool IsNumeric(const space::ParamSpec& param);

// The value of `param` in `config`, or its default when `config` does not name it.
vmle::v1::ParamValue ValueOf(const space::ParamSpec& param, const vmle::v1::Configuration& config);

// Whether `param` matters in `config`: it has no condition, or its condition
// parameter has the required value (the condition parameter's default when absent or
// outside the space).
bool IsActive(const space::SearchSpace& space, const space::ParamSpec& param,
              const vmle::v1::Configuration& config);

// Sets every inactive conditional parameter of `config` to its default.
void ResetInactive(const space::SearchSpace& space, vmle::v1::Configuration* config);

// Every parameter of the space at its default.
vmle::v1::Configuration DefaultConfiguration(const space::SearchSpace& space);

// Every parameter drawn with SampleValue, then inactive ones reset.
vmle::v1::Configuration SampleConfiguration(const space::SearchSpace& space, Rng& rng);

// The unit encoding of every parameter, in space order: unit coordinates for numeric
// parameters, choice indices for the others. Decode inverts it (numeric values
// rounded as FromUnit does), then resets inactive parameters.
std::vector<double> Encode(const space::SearchSpace& space, const vmle::v1::Configuration& config);
vmle::v1::Configuration Decode(const space::SearchSpace& space, const std::vector<double>& point);

// A text key identifying the configuration within the space, for de-duplication:
// "name=value;" over the space's parameters in space order, defaults filled in and
// inactive parameters at their defaults. Names outside the space are ignored.
std::string ConfigKey(const space::SearchSpace& space, const vmle::v1::Configuration& config);

}  // namespace vmle::agent
