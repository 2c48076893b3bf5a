#include "services/agent/planner/llm/llm_reply.h"

#include <cstdint>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/space/space_proto.h"
#include "common/status/message.h"
#include "nlohmann/json.hpp"
#include "services/agent/planner/space_sampling.h"

namespace vmle::agent {
namespace {

using nlohmann::json;

absl::Status Bad(const std::string& path, const std::string& what) {
  return absl::InvalidArgumentError(path.empty() ? what : path + ": " + what);
}

// The first '{' to the last '}' of the reply, parsed.
absl::StatusOr<json> ExtractObject(std::string_view reply) {
  const size_t open = reply.find('{');
  const size_t close = reply.rfind('}');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open) {
    return Bad("", "the reply holds no JSON object");
  }
  try {
    return json::parse(reply.substr(open, close - open + 1));
  } catch (const json::exception& e) {  // parse_error, and out_of_range for numbers like 1e999999
    return Bad("", absl::StrCat("the reply is not valid JSON: ", e.what()));
  }
}

// The string at `key`; "" when absent and not `required`.
absl::StatusOr<std::string> StringField(const json& object, const std::string& key, const std::string& path,
                                        bool required) {
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) {
    if (required) return Bad(path + key, "missing (expected a non-empty string)");
    return std::string();
  }
  if (!it->is_string()) return Bad(path + key, "expected a string, got " + it->dump());
  if (required && it->get<std::string>().empty()) return Bad(path + key, "expected a non-empty string");
  return it->get<std::string>();
}

// A JSON value as the typed value of `param` (search_space.h, ConformValue): numbers
// and bools as they are, strings as the text a person would write (models quote
// numbers at times).
absl::StatusOr<space::Value> TypedJson(const space::ParamSpec& param, const json& value) {
  if (value.is_string()) return space::ParseValue(param, value.get<std::string>());
  if (value.is_boolean()) return space::ConformValue(param, space::Value::Bool(value.get<bool>()));
  if (value.is_number_unsigned() && value.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
    return space::ConformValue(param, space::Value::Float(value.get<double>()));
  }
  if (value.is_number_integer()) return space::ConformValue(param, space::Value::Int(value.get<int64_t>()));
  if (value.is_number_float()) return space::ConformValue(param, space::Value::Float(value.get<double>()));
  return absl::InvalidArgumentError("parameter '" + param.name + "': expected a " +
                                    std::string(space::ParamTypeName(param.type)) + " value, got " +
                                    TruncateForMessage(value.dump()));
}

absl::StatusOr<vmle::v1::Configuration> ReadConfiguration(const json& object, const space::SearchSpace& space,
                                                          const vmle::v1::Configuration& base,
                                                          const std::string& path) {
  if (!object.is_object()) return Bad(path, "expected an object of parameter values");
  vmle::v1::Configuration config;
  for (const space::ParamSpec& p : space.params) (*config.mutable_values())[p.name] = ValueOf(p, base);
  for (const auto& [name, value] : object.items()) {
    const space::ParamSpec* param = space.Find(name);
    if (param == nullptr) return Bad(path + "." + name, "not a parameter of the search space");
    absl::StatusOr<space::Value> typed = TypedJson(*param, value);
    if (!typed.ok()) return Bad(path, std::string(typed.status().message()));
    (*config.mutable_values())[name] = space::ToProto(*typed);
  }
  return config;
}

absl::StatusOr<ReplyProposal> ReadProposal(const json& item, const space::SearchSpace& space,
                                           const vmle::v1::Configuration& base, const std::string& path) {
  if (!item.is_object()) return Bad(path, "expected an object");
  const auto config = item.find("configuration");
  if (config == item.end()) return Bad(path + ".configuration", "missing");
  ReplyProposal out;
  absl::StatusOr<vmle::v1::Configuration> read = ReadConfiguration(*config, space, base, path + ".configuration");
  if (!read.ok()) return read.status();
  out.config = *std::move(read);
  const std::pair<const char*, std::string* (vmle::v1::Proposal::*)()> fields[] = {
      {"hypothesis", &vmle::v1::Proposal::mutable_hypothesis},
      {"changed_dimension", &vmle::v1::Proposal::mutable_changed_dimension},
      {"expected_mechanism", &vmle::v1::Proposal::mutable_expected_mechanism},
      {"risk", &vmle::v1::Proposal::mutable_risk},
      {"rollback", &vmle::v1::Proposal::mutable_rollback}};
  for (const auto& [key, field] : fields) {
    absl::StatusOr<std::string> text = StringField(item, key, path + ".", false);
    if (!text.ok()) return text.status();
    *(out.proposal.*field)() = *std::move(text);
  }
  return out;
}

absl::StatusOr<ReplyProposals> ReadProposals(const json& doc, const space::SearchSpace& space,
                                             const vmle::v1::Configuration& base) {
  ReplyProposals out;
  if (doc.contains("configuration")) {
    absl::StatusOr<ReplyProposal> one = ReadProposal(doc, space, base, "proposal");
    if (!one.ok()) return one.status();
    out.proposals.push_back(*std::move(one));
    return out;
  }
  const auto list = doc.find("proposals");
  if (list == doc.end() || !list->is_array()) return Bad("", "expected {\"proposals\": [...]}");
  if (list->empty()) return Bad("proposals", "empty; propose at least one trial");
  for (size_t i = 0; i < list->size(); ++i) {
    absl::StatusOr<ReplyProposal> p = ReadProposal((*list)[i], space, base, absl::StrCat("proposals[", i, "]"));
    if (p.ok()) {
      out.proposals.push_back(*std::move(p));
    } else {
      out.errors.emplace_back(p.status().message());
    }
  }
  return out;
}

absl::StatusOr<std::vector<std::string>> StringList(const json& doc, const std::string& key) {
  std::vector<std::string> out;
  const auto it = doc.find(key);
  if (it == doc.end() || it->is_null()) return out;
  if (!it->is_array()) return Bad(key, "expected an array of strings");
  for (const json& item : *it) {
    if (!item.is_string()) return Bad(key, "expected an array of strings, found " + item.dump());
    out.push_back(item.get<std::string>());
  }
  return out;
}

absl::StatusOr<vmle::v1::CognitionRule> ReadRule(const json& item, const space::SearchSpace& space,
                                                 const std::string& path) {
  if (!item.is_object()) return Bad(path, "expected an object");
  vmle::v1::CognitionRule rule;
  absl::StatusOr<std::string> knob = StringField(item, "knob", path + ".", true);
  if (!knob.ok()) return knob.status();
  if (space.Find(*knob) == nullptr) return Bad(path + ".knob", "\"" + *knob + "\" is not a parameter of the search space");
  absl::StatusOr<std::string> direction = StringField(item, "direction", path + ".", true);
  absl::StatusOr<std::string> condition = StringField(item, "condition", path + ".", false);
  absl::StatusOr<std::string> text = StringField(item, "text", path + ".", false);
  for (const auto* s : {&direction, &condition, &text}) {
    if (!s->ok()) return s->status();
  }
  const double confidence = item.value("confidence", 0.5);
  if (!(confidence >= 0 && confidence <= 1)) return Bad(path + ".confidence", "expected a number in [0, 1]");
  rule.set_knob(*knob);
  rule.set_direction(*direction);
  rule.set_condition(*condition);
  rule.set_text(*text);
  rule.set_confidence(confidence);
  rule.set_effect(item.value("effect", 0.0));
  rule.set_evidence_trials(item.value("evidence_trials", 0));
  rule.set_evidence_datasets(item.value("evidence_datasets", 1));
  return rule;
}

absl::StatusOr<vmle::v1::CognitionSummary> ReadSummary(const json& doc, const space::SearchSpace& space) {
  vmle::v1::CognitionSummary summary;
  absl::StatusOr<std::string> prose = StringField(doc, "prose", "", true);
  if (!prose.ok()) return prose.status();
  summary.set_prose(*prose);
  const auto rules = doc.find("rules");
  if (rules != doc.end() && !rules->is_array()) return Bad("rules", "expected an array of rule objects");
  for (size_t i = 0; rules != doc.end() && i < rules->size(); ++i) {
    absl::StatusOr<vmle::v1::CognitionRule> rule = ReadRule((*rules)[i], space, absl::StrCat("rules[", i, "]"));
    if (!rule.ok()) return rule.status();
    *summary.add_rules() = *std::move(rule);
  }
  for (const auto& [key, field] : {std::pair{"search_order", summary.mutable_search_order()},
                                   std::pair{"failed_attempts", summary.mutable_failed_attempts()}}) {
    absl::StatusOr<std::vector<std::string>> list = StringList(doc, key);
    if (!list.ok()) return list.status();
    field->Add(list->begin(), list->end());
  }
  return summary;
}

// Runs `read` on the reply's object; type errors of the JSON library become
// INVALID_ARGUMENT like the checks of `read`.
template <typename Read>
auto WithObject(std::string_view reply, Read read) -> decltype(read(json())) {
  absl::StatusOr<json> doc = ExtractObject(reply);
  if (!doc.ok()) return doc.status();
  try {
    return read(*doc);
  } catch (const json::exception& e) {
    return Bad("", absl::StrCat("unexpected JSON: ", e.what()));
  }
}

}  // namespace

absl::StatusOr<ReplyProposals> ParseProposals(std::string_view reply, const space::SearchSpace& space,
                                              const vmle::v1::Configuration& base) {
  return WithObject(reply, [&](const json& doc) { return ReadProposals(doc, space, base); });
}

absl::StatusOr<vmle::v1::Reflection> ParseReflection(std::string_view reply) {
  return WithObject(reply, [](const json& doc) -> absl::StatusOr<vmle::v1::Reflection> {
    vmle::v1::Reflection r;
    const std::pair<const char*, std::string* (vmle::v1::Reflection::*)()> fields[] = {
        {"observation", &vmle::v1::Reflection::mutable_observation},
        {"explanation", &vmle::v1::Reflection::mutable_explanation},
        {"generalized_rule", &vmle::v1::Reflection::mutable_generalized_rule},
        {"next_action", &vmle::v1::Reflection::mutable_next_action}};
    for (const auto& [key, field] : fields) {
      absl::StatusOr<std::string> text = StringField(doc, key, "", true);
      if (!text.ok()) return text.status();
      *(r.*field)() = *std::move(text);
    }
    return r;
  });
}

absl::StatusOr<vmle::v1::CognitionSummary> ParseSummary(std::string_view reply, const space::SearchSpace& space) {
  return WithObject(reply, [&](const json& doc) { return ReadSummary(doc, space); });
}

}  // namespace vmle::agent
