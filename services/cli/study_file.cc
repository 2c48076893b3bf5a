#include "services/cli/study_file.h"

#include <cctype>
#include <fstream>
#include <map>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/space/space_proto.h"
#include "google/protobuf/util/json_util.h"
#include "nlohmann/json.hpp"
#include "yaml-cpp/yaml.h"

namespace vmle::cli {
namespace {

// A YAML node as JSON: scalars become booleans and numbers when they read as such.
nlohmann::json ToJson(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      nlohmann::json out = nlohmann::json::object();
      for (const auto& kv : node) out[kv.first.as<std::string>()] = ToJson(kv.second);
      return out;
    }
    case YAML::NodeType::Sequence: {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& item : node) out.push_back(ToJson(item));
      return out;
    }
    case YAML::NodeType::Scalar: {
      const std::string s = node.Scalar();
      if (node.Tag() == "!") return s;  // quoted
      if (s == "true" || s == "false") return s == "true";
      int64_t i = 0;
      double d = 0;
      if (absl::SimpleAtoi(s, &i)) return i;
      if (absl::SimpleAtod(s, &d) && !s.empty() && (std::isdigit(s.back()) || s.back() == '.')) return d;
      return s;
    }
    default:
      return nullptr;
  }
}

std::map<std::string, vmle::v1::DatasetFormat> Formats() {
  return {{"sequential", vmle::v1::DATASET_FORMAT_SEQUENTIAL},
          {"amazon2014", vmle::v1::DATASET_FORMAT_AMAZON_2014_JSON},
          {"amazon2023", vmle::v1::DATASET_FORMAT_AMAZON_2023_CSV},
          {"recbole", vmle::v1::DATASET_FORMAT_RECBOLE_INTER},
          {"movielens", vmle::v1::DATASET_FORMAT_MOVIELENS_DAT},
          {"csv", vmle::v1::DATASET_FORMAT_CSV},
          {"synthetic", vmle::v1::DATASET_FORMAT_SYNTHETIC}};
}

template <typename Map>
std::string Names(const Map& map) {
  std::vector<std::string> names;
  for (const auto& [name, value] : map) names.push_back(name);
  return absl::StrJoin(names, ", ");
}

absl::Status SplitKeyValue(const std::string& flag, const std::string& text, std::string* key, std::string* value) {
  const size_t eq = text.find('=');
  if (eq == std::string::npos || eq == 0) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": expected KEY=VALUE, got \"", text, "\""));
  }
  *key = text.substr(0, eq);
  *value = text.substr(eq + 1);
  return absl::OkStatus();
}

// A fixed value typed by the backbone's space, or for names outside it by the training
// setting of that name (train_config.h, ParseSetting).
absl::StatusOr<vmle::v1::ParamValue> FixedValue(const vmle::v1::StudySpec& spec, const std::string& key,
                                                const std::string& text) {
  vmle::v1::Backbone backbone = spec.backbone() == vmle::v1::BACKBONE_UNSPECIFIED ? vmle::v1::BACKBONE_SASREC
                                                                                  : spec.backbone();
  absl::StatusOr<space::Backbone> b = space::ToBackbone(backbone);
  if (!b.ok()) return b.status();
  const space::ParamSpec* p = space::DefaultSearchSpace(*b).Find(key);
  absl::StatusOr<vmle::v1::ParamValue> typed;
  if (p != nullptr) {
    typed = space::TypedValue(*p, text);
  } else if (absl::StatusOr<space::Value> setting = space::ParseSetting(key, text); setting.ok()) {
    typed = space::ToProto(*setting);
  } else {
    typed = setting.status();
  }
  if (!typed.ok()) return absl::InvalidArgumentError(absl::StrCat("--fixed: ", typed.status().message()));
  return typed;
}

absl::Status ApplyDataset(const SpecFlags& f, vmle::v1::StudySpec& spec) {
  if (!f.data.empty()) spec.mutable_dataset()->set_path(f.data);
  if (!f.format.empty()) {
    const auto formats = Formats();
    auto it = formats.find(f.format);
    if (it == formats.end()) {
      return absl::InvalidArgumentError(absl::StrCat("--format: expected one of ", Names(formats), ", got \"",
                                                     f.format, "\""));
    }
    spec.mutable_dataset()->set_format(it->second);
  }
  return absl::OkStatus();
}

absl::Status ApplyChoices(const SpecFlags& f, vmle::v1::StudySpec& spec) {
  if (!f.backbone.empty()) {
    const std::map<std::string, vmle::v1::Backbone> backbones = {{"sasrec", vmle::v1::BACKBONE_SASREC},
                                                                 {"hstu", vmle::v1::BACKBONE_HSTU}};
    auto it = backbones.find(f.backbone);
    if (it == backbones.end()) {
      return absl::InvalidArgumentError("--backbone: expected sasrec or hstu, got \"" + f.backbone + "\"");
    }
    spec.set_backbone(it->second);
  }
  if (!f.metric.empty()) {
    absl::StatusOr<vmle::v1::Metric> metric = ParseMetric(f.metric);
    if (!metric.ok()) return metric.status();
    spec.mutable_objective()->set_metric(*metric);
  }
  if (!f.early_stopping.empty()) {
    const std::map<std::string, vmle::v1::EarlyStoppingRule> rules = {
        {"off", vmle::v1::EARLY_STOPPING_RULE_OFF},
        {"median", vmle::v1::EARLY_STOPPING_RULE_MEDIAN},
        {"halving", vmle::v1::EARLY_STOPPING_RULE_SUCCESSIVE_HALVING}};
    auto it = rules.find(f.early_stopping);
    if (it == rules.end()) {
      return absl::InvalidArgumentError("--early_stopping: expected off, median or halving, got \"" +
                                        f.early_stopping + "\"");
    }
    spec.mutable_early_stopping()->set_rule(it->second);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<vmle::v1::Metric> ParseMetric(const std::string& name) {
  const std::map<std::string, vmle::v1::Metric> metrics = {
      {"recall@5", vmle::v1::METRIC_RECALL_AT_5}, {"recall@10", vmle::v1::METRIC_RECALL_AT_10},
      {"recall@20", vmle::v1::METRIC_RECALL_AT_20}, {"ndcg@5", vmle::v1::METRIC_NDCG_AT_5},
      {"ndcg@10", vmle::v1::METRIC_NDCG_AT_10},     {"ndcg@20", vmle::v1::METRIC_NDCG_AT_20},
      {"mrr", vmle::v1::METRIC_MRR}};
  auto it = metrics.find(absl::AsciiStrToLower(name));
  if (it == metrics.end()) {
    return absl::InvalidArgumentError(absl::StrCat("--metric: expected one of ", Names(metrics), ", got \"", name, "\""));
  }
  return it->second;
}

absl::StatusOr<vmle::v1::StudySpec> ParseStudySpec(const std::string& text, const std::string& source) {
  std::string json = text;
  const size_t first = text.find_first_not_of(" \t\r\n");
  const bool is_json = first != std::string::npos && text[first] == '{' && !absl::EndsWith(source, ".yaml") &&
                       !absl::EndsWith(source, ".yml");
  if (!is_json) {
    try {
      json = ToJson(YAML::Load(text)).dump();
    } catch (const YAML::Exception& e) {
      return absl::InvalidArgumentError(absl::StrCat(source, ": not valid YAML: ", e.what()));
    }
  }
  vmle::v1::StudySpec spec;
  google::protobuf::util::JsonParseOptions options;
  const auto status = google::protobuf::util::JsonStringToMessage(json, &spec, options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": not a vmle.v1.StudySpec: ", std::string(status.message())));
  }
  return spec;
}

absl::StatusOr<vmle::v1::StudySpec> ReadStudyFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError("cannot read study file " + path);
  std::stringstream text;
  text << in.rdbuf();
  return ParseStudySpec(text.str(), path);
}

absl::StatusOr<vmle::v1::StudySpec> ApplySpecFlags(const SpecFlags& f, vmle::v1::StudySpec spec) {
  if (!f.name.empty()) spec.set_name(f.name);
  if (absl::Status s = ApplyDataset(f, spec); !s.ok()) return s;
  if (absl::Status s = ApplyChoices(f, spec); !s.ok()) return s;
  if (!f.planner.empty()) spec.mutable_planner()->set_name(f.planner);
  vmle::v1::Budget& budget = *spec.mutable_budget();
  if (f.trials != 0) budget.set_max_trials(f.trials);
  if (f.parallel != 0) budget.set_parallelism(f.parallel);
  if (f.max_failed != 0) budget.set_max_failed_trials(f.max_failed);
  if (f.max_wall_seconds != 0) budget.set_max_wall_seconds(f.max_wall_seconds);
  if (f.patience != 0) budget.set_no_improvement_patience(f.patience);
  if (f.has_seed) spec.set_seed(f.seed);
  if (!f.device.empty()) spec.set_device(f.device);
  if (f.reflection_off) spec.mutable_planner()->set_reflection_off(true);
  if (f.memory_off) spec.mutable_planner()->set_memory_off(true);
  if (f.transfer_off) spec.mutable_planner()->set_transfer_off(true);
  for (const std::string& option : f.planner_options) {
    std::string key, value;
    if (absl::Status s = SplitKeyValue("--option", option, &key, &value); !s.ok()) return s;
    (*spec.mutable_planner()->mutable_options())[key] = value;
  }
  for (const std::string& fixed : f.fixed) {
    std::string key, value;
    if (absl::Status s = SplitKeyValue("--fixed", fixed, &key, &value); !s.ok()) return s;
    absl::StatusOr<vmle::v1::ParamValue> typed = FixedValue(spec, key, value);
    if (!typed.ok()) return typed.status();
    (*spec.mutable_fixed()->mutable_values())[key] = *typed;
  }
  return spec;
}

}  // namespace vmle::cli
