// Helpers for the heuristic planner's tests: finished trials over the SASRec space,
// single-parameter edits and differences of configurations.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/space/search_space.h"
#include "common/space/space_proto.h"
#include "services/agent/planner/space_sampling.h"
#include "vmle/v1/study.pb.h"

namespace vmle::agent::testing {

inline const space::SearchSpace& SasrecSpace() { return space::DefaultSearchSpace(space::Backbone::kSASRec); }

inline vmle::v1::Configuration SasrecDefault() { return DefaultConfiguration(SasrecSpace()); }

inline std::string Key(const vmle::v1::Configuration& config) { return ConfigKey(SasrecSpace(), config); }

inline vmle::v1::Configuration With(vmle::v1::Configuration config, const std::string& name, double value) {
  (*config.mutable_values())[name].set_float_value(value);
  return config;
}

inline vmle::v1::Configuration With(vmle::v1::Configuration config, const std::string& name, int64_t value) {
  (*config.mutable_values())[name].set_int_value(value);
  return config;
}

// The parameters whose values differ (inactive ones at their defaults), in space order.
inline std::vector<std::string> Diff(vmle::v1::Configuration a, vmle::v1::Configuration b) {
  ResetInactive(SasrecSpace(), &a);
  ResetInactive(SasrecSpace(), &b);
  std::vector<std::string> out;
  for (const space::ParamSpec& p : SasrecSpace().params) {
    if (!space::SameValue(ValueOf(p, a), ValueOf(p, b))) out.push_back(p.name);
  }
  return out;
}

// A succeeded trial.
inline vmle::v1::Trial Finished(int number, const vmle::v1::Configuration& config, double value) {
  vmle::v1::Trial t;
  t.set_number(number);
  *t.mutable_config() = config;
  t.set_status(vmle::v1::TRIAL_STATUS_SUCCEEDED);
  t.set_objective_value(value);
  return t;
}

// A short-sequence, large-catalogue profile (Amazon Beauty-like).
inline vmle::v1::DatasetProfile ShortProfile() {
  vmle::v1::DatasetProfile p;
  p.set_num_users(22363);
  p.set_num_items(12101);
  p.set_mean_length(8.9);
  return p;
}

}  // namespace vmle::agent::testing
