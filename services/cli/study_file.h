// Study specs from files and flags, as `vmle submit` and `vmle tune` build them.
//
// A study file is a vmle.v1.StudySpec in the protobuf JSON mapping (field names in
// lowerCamelCase or as in the .proto, enums by name) or the same structure in YAML,
// e.g.
//   dataset: {path: Beauty.txt}
//   budget: {max_trials: 16, parallelism: 2}
//   planner: {name: heuristic}
// Errors: INVALID_ARGUMENT with the file name and the parser's message; NOT_FOUND
// for a missing file.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "vmle/v1/study.pb.h"

namespace vmle::cli {

// Reads a JSON (.json) or YAML (.yaml, .yml; any other name: JSON when the text
// starts with '{', YAML otherwise) study file.
absl::StatusOr<vmle::v1::StudySpec> ReadStudyFile(const std::string& path);

// Parses a study spec from JSON or YAML text; `source` names it in errors.
absl::StatusOr<vmle::v1::StudySpec> ParseStudySpec(const std::string& text, const std::string& source);

// Study settings given as flags; empty or zero fields leave the spec as it is.
struct SpecFlags {
  std::string name;
  std::string data;      // dataset path under the workers' data root
  std::string format;    // sequential, amazon2014, amazon2023, recbole, movielens, csv, synthetic
  std::string backbone;  // sasrec, hstu
  std::string planner;
  std::string metric;    // ndcg@10, recall@10, ...
  int trials = 0;
  int parallel = 0;
  int max_failed = 0;
  int64_t max_wall_seconds = 0;
  int patience = 0;
  std::string early_stopping;  // off, median, halving
  uint64_t seed = 0;
  bool has_seed = false;
  std::string device;
  // KEY=VALUE each.
  std::vector<std::string> planner_options;
  std::vector<std::string> fixed;
  bool reflection_off = false;
  bool memory_off = false;
  bool transfer_off = false;
};

// `base` with the flags laid over it. Fixed values are typed by the backbone's search
// space (an int stays an int, "true" a bool). INVALID_ARGUMENT naming the flag.
absl::StatusOr<vmle::v1::StudySpec> ApplySpecFlags(const SpecFlags& flags, vmle::v1::StudySpec base);

// "ndcg@10" -> METRIC_NDCG_AT_10 etc.; INVALID_ARGUMENT listing the names.
absl::StatusOr<vmle::v1::Metric> ParseMetric(const std::string& name);

}  // namespace vmle::cli
