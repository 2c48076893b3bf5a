#include "common/space/space_proto.h"

#include <algorithm>
#include <cmath>
#include <map>

namespace vmle::space {
namespace {

// The enum name, or the number for a value this build does not know (Backbone_Name
// returns "" for those).
std::string BackboneLabel(vmle::v1::Backbone backbone) {
  const std::string& name = vmle::v1::Backbone_Name(backbone);
  return name.empty() ? "unknown value " + std::to_string(static_cast<int>(backbone)) : name;
}

}  // namespace

absl::StatusOr<Backbone> ToBackbone(vmle::v1::Backbone backbone) {
  switch (backbone) {
    case vmle::v1::BACKBONE_SASREC: return Backbone::kSASRec;
    case vmle::v1::BACKBONE_HSTU: return Backbone::kHSTU;
    default: break;
  }
  return absl::InvalidArgumentError("backbone: expected BACKBONE_SASREC or BACKBONE_HSTU, got " +
                                    BackboneLabel(backbone));
}

vmle::v1::Backbone ToProtoBackbone(Backbone backbone) {
  switch (backbone) {
    case Backbone::kSASRec: return vmle::v1::BACKBONE_SASREC;
    case Backbone::kHSTU: return vmle::v1::BACKBONE_HSTU;
  }
  return vmle::v1::BACKBONE_UNSPECIFIED;
}

vmle::v1::ParamSpec ToProto(const ParamSpec& p) {
  vmle::v1::ParamSpec out;
  out.set_name(p.name);
  out.set_description(p.description);
  switch (p.type) {
    case ParamType::kInt: {
      auto* r = out.mutable_int_range();
      r->set_min(static_cast<int64_t>(p.min));
      r->set_max(static_cast<int64_t>(p.max));
      r->set_log_scale(p.log_scale);
      r->set_step(p.step);
      break;
    }
    case ParamType::kFloat: {
      auto* r = out.mutable_float_range();
      r->set_min(p.min);
      r->set_max(p.max);
      r->set_log_scale(p.log_scale);
      break;
    }
    case ParamType::kCategorical:
      for (const std::string& c : p.choices) out.mutable_categorical()->add_choices(c);
      break;
    case ParamType::kBool:
      out.mutable_boolean();
      break;
  }
  if (p.default_value.is_set()) *out.mutable_default_value() = ToProto(p.default_value);
  if (!p.condition_param.empty()) {
    out.set_condition_param(p.condition_param);
    out.mutable_condition_value()->set_categorical_value(p.condition_value);
  }
  return out;
}

vmle::v1::SearchSpace ToProto(const SearchSpace& space) {
  vmle::v1::SearchSpace out;
  out.set_backbone(ToProtoBackbone(space.backbone));
  for (const ParamSpec& p : space.params) *out.add_params() = ToProto(p);
  return out;
}

ParamSpec FromProto(const vmle::v1::ParamSpec& param, const ParamSpec* base) {
  ParamSpec p;
  if (base != nullptr) p = *base;
  p.name = param.name();
  if (!param.description().empty()) p.description = param.description();
  switch (param.domain_case()) {
    case vmle::v1::ParamSpec::kIntRange:
      p.type = ParamType::kInt;
      p.min = static_cast<double>(param.int_range().min());
      p.max = static_cast<double>(param.int_range().max());
      p.log_scale = param.int_range().log_scale();
      p.step = param.int_range().step();
      p.choices.clear();
      break;
    case vmle::v1::ParamSpec::kFloatRange:
      p.type = ParamType::kFloat;
      p.min = param.float_range().min();
      p.max = param.float_range().max();
      p.log_scale = param.float_range().log_scale();
      p.step = 0;
      p.choices.clear();
      break;
    case vmle::v1::ParamSpec::kCategorical:
      p.type = ParamType::kCategorical;
      p.choices.assign(param.categorical().choices().begin(), param.categorical().choices().end());
      break;
    case vmle::v1::ParamSpec::kBoolean:
      p.type = ParamType::kBool;
      break;
    case vmle::v1::ParamSpec::DOMAIN_NOT_SET:
      break;
  }
  // The default is the wire default when given; otherwise NarrowSearchSpace picks one.
  p.default_value = param.has_default_value() ? FromProto(param.default_value()) : Value();
  return p;
}

absl::StatusOr<SearchSpace> EffectiveSpace(vmle::v1::Backbone backbone,
                                           const vmle::v1::SearchSpace& narrowing) {
  absl::StatusOr<Backbone> b = ToBackbone(backbone);
  if (!b.ok()) return b.status();
  const SearchSpace& base = DefaultSearchSpace(*b);
  if (narrowing.backbone() != vmle::v1::BACKBONE_UNSPECIFIED && narrowing.backbone() != backbone) {
    return absl::InvalidArgumentError("search_space.backbone: " +
                                      BackboneLabel(narrowing.backbone()) +
                                      " does not match the study's backbone " +
                                      BackboneLabel(backbone));
  }
  std::vector<ParamSpec> params;
  for (const vmle::v1::ParamSpec& p : narrowing.params()) {
    params.push_back(FromProto(p, base.Find(p.name())));
    if (base.Find(p.name()) == nullptr && p.domain_case() == vmle::v1::ParamSpec::DOMAIN_NOT_SET) {
      return absl::InvalidArgumentError("search_space: parameter '" + p.name() + "': not in the " +
                                        std::string(BackboneName(*b)) + " search space");
    }
  }
  absl::StatusOr<SearchSpace> out = NarrowSearchSpace(base, params);
  if (!out.ok()) {
    return absl::InvalidArgumentError("search_space: " + std::string(out.status().message()));
  }
  return *std::move(out);
}

Value FromProto(const vmle::v1::ParamValue& value) {
  switch (value.kind_case()) {
    case vmle::v1::ParamValue::kIntValue: return Value::Int(value.int_value());
    case vmle::v1::ParamValue::kFloatValue: return Value::Float(value.float_value());
    case vmle::v1::ParamValue::kCategoricalValue: return Value::Text(value.categorical_value());
    case vmle::v1::ParamValue::kBoolValue: return Value::Bool(value.bool_value());
    case vmle::v1::ParamValue::KIND_NOT_SET: break;
  }
  return Value();
}

vmle::v1::ParamValue ToProto(const Value& value) {
  vmle::v1::ParamValue out;
  if (const int64_t* i = value.int_value()) out.set_int_value(*i);
  if (const double* d = value.float_value()) out.set_float_value(*d);
  if (const std::string* t = value.text_value()) out.set_categorical_value(*t);
  if (const bool* b = value.bool_value()) out.set_bool_value(*b);
  return out;
}

bool SameValue(const vmle::v1::ParamValue& a, const vmle::v1::ParamValue& b) {
  return SameValue(FromProto(a), FromProto(b));
}

std::string ValueText(const vmle::v1::ParamValue& value) { return ValueText(FromProto(value)); }

absl::StatusOr<vmle::v1::ParamValue> TypedValue(const ParamSpec& param, std::string_view text) {
  absl::StatusOr<Value> value = ParseValue(param, text);
  if (!value.ok()) return value.status();
  return ToProto(*value);
}

Settings ToSettings(const vmle::v1::Configuration& config) {
  const std::map<std::string, vmle::v1::ParamValue> sorted(config.values().begin(), config.values().end());
  Settings out;
  for (const auto& [name, value] : sorted) out.emplace_back(name, FromProto(value));
  return out;
}

absl::StatusOr<vmle::v1::Configuration> CompleteConfiguration(const SearchSpace& space,
                                                              const vmle::v1::Configuration& config) {
  for (const auto& [name, value] : config.values()) {
    if (value.kind_case() == vmle::v1::ParamValue::KIND_NOT_SET) {
      return absl::InvalidArgumentError("parameter '" + name + "': no value");
    }
  }
  const Settings settings = ToSettings(config);
  if (auto checked = ValidateConfiguration(space, settings); !checked.ok()) {
    return checked.status();
  }
  vmle::v1::Configuration out;
  for (const auto& [name, value] : WithDefaults(space, settings)) {
    const ParamSpec* p = space.Find(name);
    if (p == nullptr) {
      (*out.mutable_values())[name] = config.values().at(name);
      continue;
    }
    absl::StatusOr<Value> typed = ConformValue(*p, value);
    if (!typed.ok()) return typed.status();
    (*out.mutable_values())[name] = ToProto(*typed);
  }
  return out;
}

}  // namespace vmle::space
