// Shared fixtures of the worker tests: a tiny synthetic trial that trains in well
// under a second on one CPU thread.
#pragma once

#include <cstdint>
#include <string>

#include "vmle/v1/trial_queue.pb.h"

namespace vmle::worker::testing {

inline vmle::v1::ParamValue IntValue(int64_t v) {
  vmle::v1::ParamValue value;
  value.set_int_value(v);
  return value;
}

// A small synthetic dataset: 200 users, at most 80 items.
inline vmle::v1::DatasetSpec TinySyntheticSpec(uint64_t seed = 3) {
  vmle::v1::DatasetSpec spec;
  spec.set_format(vmle::v1::DATASET_FORMAT_SYNTHETIC);
  spec.set_synthetic_users(200);
  spec.set_synthetic_items(80);
  spec.set_synthetic_seed(seed);
  spec.set_name("tiny");
  return spec;
}

// A SASRec trial on TinySyntheticSpec with a model small enough for tests.
inline vmle::v1::TrialAssignment TinyAssignment(const std::string& trial_id, int max_epochs) {
  vmle::v1::TrialAssignment a;
  a.set_trial_id(trial_id);
  a.set_study_id("study-1");
  a.set_lease_id("lease-" + trial_id);
  a.set_heartbeat_seconds(30);
  *a.mutable_dataset() = TinySyntheticSpec();
  a.set_backbone(vmle::v1::BACKBONE_SASREC);
  auto& values = *a.mutable_config()->mutable_values();
  values["hidden_dim"] = IntValue(16);
  values["max_len"] = IntValue(10);
  values["batch_size"] = IntValue(64);
  values["num_negatives"] = IntValue(16);
  values["max_epochs"] = IntValue(max_epochs);
  values["early_stop_patience"] = IntValue(10);
  a.set_objective_metric(vmle::v1::METRIC_NDCG_AT_10);
  a.set_seed(7);
  return a;
}

}  // namespace vmle::worker::testing
