#include "services/agent/planner/space_sampling.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "common/space/space_proto.h"

namespace vmle::agent {
namespace {

using space::ParamSpec;
using space::ParamType;

constexpr double kTwoPi = 6.283185307179586;

double NumericOf(const vmle::v1::ParamValue& value) {
  switch (value.kind_case()) {
    case vmle::v1::ParamValue::kIntValue: return static_cast<double>(value.int_value());
    case vmle::v1::ParamValue::kFloatValue: return value.float_value();
    case vmle::v1::ParamValue::kCategoricalValue: return std::strtod(value.categorical_value().c_str(), nullptr);
    case vmle::v1::ParamValue::kBoolValue: return value.bool_value() ? 1.0 : 0.0;
    case vmle::v1::ParamValue::KIND_NOT_SET: break;
  }
  return 0.0;
}

// Integer levels of a linear int parameter: min, min + step, ... up to max.
int64_t IntLevels(const ParamSpec& p) {
  const int64_t step = std::max<int64_t>(p.step, 1);
  return static_cast<int64_t>(p.max - p.min) / step + 1;
}

int64_t SnapToStep(const ParamSpec& p, double v) {
  const int64_t lo = static_cast<int64_t>(p.min);
  const int64_t hi = static_cast<int64_t>(p.max);
  const int64_t step = std::max<int64_t>(p.step, 1);
  int64_t n = std::llround((v - p.min) / static_cast<double>(step));
  n = std::max<int64_t>(n, 0);
  int64_t out = lo + n * step;
  while (out > hi) out -= step;
  return out;
}

double LogSpan(const ParamSpec& p) { return std::log(p.max) - std::log(p.min); }

vmle::v1::ParamValue IntValue(int64_t v) {
  vmle::v1::ParamValue out;
  out.set_int_value(v);
  return out;
}

vmle::v1::ParamValue FloatValue(double v) {
  vmle::v1::ParamValue out;
  out.set_float_value(v);
  return out;
}

// The value of the condition parameter `name` in `config`, as text.
std::string ConditionText(const space::SearchSpace& space, const std::string& name,
                          const vmle::v1::Configuration& config) {
  if (const ParamSpec* cond = space.Find(name); cond != nullptr) {
    return space::ValueText(ValueOf(*cond, config));
  }
  if (auto it = config.values().find(name); it != config.values().end()) {
    return space::ValueText(it->second);
  }
  const ParamSpec* base = space::DefaultSearchSpace(space.backbone).Find(name);
  return base == nullptr ? "" : space::ValueText(base->default_value);
}

}  // namespace

uint64_t Rng::Next() {
  uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

double Rng::Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }

int64_t Rng::Below(int64_t n) {
  return std::min<int64_t>(n - 1, static_cast<int64_t>(Uniform() * static_cast<double>(n)));
}

double Rng::Normal() {
  const double u1 = 1.0 - Uniform();  // (0, 1]: log is finite
  const double u2 = Uniform();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(kTwoPi * u2);
}

uint64_t DeriveSeed(uint64_t seed, uint64_t index) {
  Rng mix(seed ^ (index * 0xd1b54a32d192ed03ULL + 0x8cb92ba72f3d8dd7ULL));
  mix.Next();
  return mix.Next();
}

vmle::v1::ParamValue DefaultValue(const ParamSpec& param) {
  absl::StatusOr<space::Value> v = space::ConformValue(param, param.default_value);
  if (v.ok()) return space::ToProto(*v);
  return IsNumeric(param) ? FromUnit(param, 0.5) : FromChoice(param, 0);
}

bool IsNumeric(const ParamSpec& param) {
  return param.type == ParamType::kInt || param.type == ParamType::kFloat;
}

vmle::v1::ParamValue SampleValue(const ParamSpec& param, Rng& rng) {
  if (IsNumeric(param)) return FromUnit(param, rng.Uniform());
  return FromChoice(param, static_cast<int>(rng.Below(NumChoices(param))));
}

double ToUnit(const ParamSpec& p, const vmle::v1::ParamValue& value) {
  const double v = NumericOf(value);
  double u = 0.5;
  if (p.max <= p.min) return u;
  if (p.log_scale) {
    u = (std::log(std::max(v, p.min)) - std::log(p.min)) / LogSpan(p);
  } else if (p.type == ParamType::kInt) {
    const double step = static_cast<double>(std::max<int64_t>(p.step, 1));
    u = ((v - p.min) / step + 0.5) / static_cast<double>(IntLevels(p));
  } else {
    u = (v - p.min) / (p.max - p.min);
  }
  return std::clamp(u, 0.0, 1.0);
}

vmle::v1::ParamValue FromUnit(const ParamSpec& p, double u) {
  u = std::clamp(u, 0.0, 1.0);
  if (p.type == ParamType::kInt) {
    if (p.log_scale) return IntValue(SnapToStep(p, std::exp(std::log(p.min) + u * LogSpan(p))));
    const int64_t levels = IntLevels(p);
    const int64_t level = std::min<int64_t>(levels - 1, static_cast<int64_t>(u * static_cast<double>(levels)));
    return IntValue(static_cast<int64_t>(p.min) + level * std::max<int64_t>(p.step, 1));
  }
  const double v = p.log_scale ? std::exp(std::log(p.min) + u * LogSpan(p)) : p.min + u * (p.max - p.min);
  return FloatValue(std::clamp(v, p.min, p.max));
}

int NumChoices(const ParamSpec& param) {
  if (param.type == ParamType::kBool) return 2;
  return std::max<int>(1, static_cast<int>(param.choices.size()));
}

int ChoiceIndex(const ParamSpec& param, const vmle::v1::ParamValue& value) {
  if (param.type == ParamType::kBool) {
    return value.kind_case() == vmle::v1::ParamValue::kBoolValue && value.bool_value() ? 1 : 0;
  }
  const auto it = std::find(param.choices.begin(), param.choices.end(), value.categorical_value());
  return it == param.choices.end() ? 0 : static_cast<int>(it - param.choices.begin());
}

vmle::v1::ParamValue FromChoice(const ParamSpec& param, int index) {
  vmle::v1::ParamValue out;
  if (param.type == ParamType::kBool) {
    out.set_bool_value(index == 1);
  } else if (!param.choices.empty()) {
    out.set_categorical_value(param.choices[std::clamp<size_t>(index, 0, param.choices.size() - 1)]);
  }
  return out;
}

vmle::v1::ParamValue ValueOf(const ParamSpec& param, const vmle::v1::Configuration& config) {
  auto it = config.values().find(param.name);
  if (it == config.values().end() || it->second.kind_case() == vmle::v1::ParamValue::KIND_NOT_SET) {
    return DefaultValue(param);
  }
  return it->second;
}

bool IsActive(const space::SearchSpace& space, const ParamSpec& param, const vmle::v1::Configuration& config) {
  if (param.condition_param.empty()) return true;
  return ConditionText(space, param.condition_param, config) == param.condition_value;
}

void ResetInactive(const space::SearchSpace& space, vmle::v1::Configuration* config) {
  for (const ParamSpec& p : space.params) {
    if (!IsActive(space, p, *config)) (*config->mutable_values())[p.name] = DefaultValue(p);
  }
}

vmle::v1::Configuration DefaultConfiguration(const space::SearchSpace& space) {
  vmle::v1::Configuration out;
  for (const ParamSpec& p : space.params) (*out.mutable_values())[p.name] = DefaultValue(p);
  return out;
}

vmle::v1::Configuration SampleConfiguration(const space::SearchSpace& space, Rng& rng) {
  vmle::v1::Configuration out;
  for (const ParamSpec& p : space.params) (*out.mutable_values())[p.name] = SampleValue(p, rng);
  ResetInactive(space, &out);
  return out;
}

std::vector<double> Encode(const space::SearchSpace& space, const vmle::v1::Configuration& config) {
  std::vector<double> out;
  out.reserve(space.params.size());
  for (const ParamSpec& p : space.params) {
    const vmle::v1::ParamValue v = ValueOf(p, config);
    out.push_back(IsNumeric(p) ? ToUnit(p, v) : static_cast<double>(ChoiceIndex(p, v)));
  }
  return out;
}

vmle::v1::Configuration Decode(const space::SearchSpace& space, const std::vector<double>& point) {
  vmle::v1::Configuration out;
  for (size_t i = 0; i < space.params.size() && i < point.size(); ++i) {
    const ParamSpec& p = space.params[i];
    (*out.mutable_values())[p.name] =
        IsNumeric(p) ? FromUnit(p, point[i]) : FromChoice(p, static_cast<int>(std::lround(point[i])));
  }
  ResetInactive(space, &out);
  return out;
}

std::string ConfigKey(const space::SearchSpace& space, const vmle::v1::Configuration& config) {
  std::string key;
  for (const ParamSpec& p : space.params) {
    const vmle::v1::ParamValue v = IsActive(space, p, config) ? ValueOf(p, config) : DefaultValue(p);
    key += p.name + "=" + space::ValueText(v) + ";";
  }
  return key;
}

}  // namespace vmle::agent
