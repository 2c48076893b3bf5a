#include "services/agent/planner/heuristic/heuristic_moves.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/space/space_proto.h"
#include "services/agent/planner/space_sampling.h"

namespace vmle::agent::heuristic {
namespace {

// A numeric value clamped into the parameter's domain and typed.
vmle::v1::ParamValue NumericValue(const space::ParamSpec& p, double v) {
  v = std::clamp(v, p.min, p.max);
  vmle::v1::ParamValue out;
  if (p.type == space::ParamType::kInt) {
    int64_t i = std::llround(v);
    if (p.step > 0) {
      const int64_t base = static_cast<int64_t>(p.min);
      i = base + std::llround(static_cast<double>(i - base) / static_cast<double>(p.step)) * p.step;
      if (static_cast<double>(i) > p.max) i -= p.step;
    }
    out.set_int_value(i);
  } else {
    out.set_float_value(std::clamp(std::strtod(absl::StrFormat("%.4g", v).c_str(), nullptr), p.min, p.max));
  }
  return out;
}

// The value `move` gives `p` from `current`; nullopt when it is not in the domain.
std::optional<vmle::v1::ParamValue> NextValue(const space::ParamSpec& p, const vmle::v1::ParamValue& current,
                                              const Move& move) {
  if (!IsNumeric(p)) {
    if (move.kind != MoveKind::kSet) return std::nullopt;
    absl::StatusOr<space::Value> typed = space::ConformValue(p, move.value);
    if (!typed.ok()) return std::nullopt;
    return space::ToProto(*typed);
  }
  const double v = NumberOf(current);
  switch (move.kind) {
    case MoveKind::kScale: return NumericValue(p, v * move.amount);
    case MoveKind::kShift: return NumericValue(p, v + move.amount);
    case MoveKind::kSet: break;
  }
  const std::optional<double> target = move.value.number();
  if (!target.has_value()) return std::nullopt;
  return NumericValue(p, *target);
}

bool SwitchedOn(const space::ParamSpec& p, const vmle::v1::ParamValue& value) {
  if (p.type == space::ParamType::kBool) return value.bool_value();
  return IsNumeric(p) && NumberOf(value) > 0;
}

// The prior's step for (knob, direction), or the generic one.
std::optional<Move> StepFor(const space::SearchSpace& space, const std::string& knob, const std::string& direction) {
  for (const Move& m : PriorMoves()) {
    if (m.knob == knob && m.Direction() == direction && m.kind != MoveKind::kSet) return m;
  }
  for (const Move& m : GenericMoves(space)) {
    if (m.knob == knob && m.Direction() == direction) return m;
  }
  return std::nullopt;
}

// Half the step of (knob, direction) in both directions, the rule's first: the
// optimum of a related dataset lies near the transferred value, not at it.
std::vector<Move> Retune(const space::SearchSpace& space, const Move& base, const std::string& direction) {
  std::optional<Move> step = StepFor(space, base.knob, "up");
  std::vector<Move> out;
  if (!step.has_value()) return out;
  const bool scale = step->kind == MoveKind::kScale;
  const double half = scale ? std::sqrt(std::max(step->amount, 1 / step->amount)) : std::abs(step->amount) / 2;
  for (int sign : {1, -1}) {
    Move m = base;
    m.kind = step->kind;
    m.amount = scale ? (sign > 0 ? half : 1 / half) : sign * half;
    m.mechanism = "re-tuning " + base.knob + ", a strong lever on the source dataset whose best value is in place: " +
                  "the optimum of a related dataset moves slightly";
    out.push_back(std::move(m));
  }
  if (direction == "down") std::swap(out[0], out[1]);
  return out;
}

// The moves a rule suggests from `from` (see TransferredMoves).
std::vector<Move> RuleMoves(const space::SearchSpace& space, const vmle::v1::CognitionRule& rule,
                            const vmle::v1::CognitionSummary& summary, const vmle::v1::Configuration& from) {
  const space::ParamSpec* p = space.Find(rule.knob());
  if (p == nullptr) return {};
  Move move;
  move.knob = rule.knob();
  move.condition = rule.condition();
  move.mechanism = rule.text().empty() ? MechanismOf(rule.knob(), rule.direction()) : rule.text();
  move.risk = RiskOf(rule.knob(), rule.direction());
  const bool directional = rule.direction() == "up" || rule.direction() == "down";
  if (!IsNumeric(*p) || !directional) {
    // A rule's value is text a person or a model wrote; a number outside the study's
    // range is clamped into it when the move is applied.
    double number = 0;
    space::Value value;
    if (!IsNumeric(*p)) {
      absl::StatusOr<space::Value> parsed = space::ParseValue(*p, rule.direction());
      if (!parsed.ok()) return {};
      value = *std::move(parsed);
    } else if (absl::SimpleAtod(rule.direction(), &number)) {
      value = space::Value::Float(number);
    } else {
      return {};
    }
    move.kind = MoveKind::kSet;
    move.value = std::move(value);
    return {move};
  }
  auto it = summary.best_config().values().find(rule.knob());
  if (it != summary.best_config().values().end()) {
    const double target = NumberOf(it->second);
    const double current = NumberOf(ValueOf(*p, from));
    if (target == current) return Retune(space, move, rule.direction());
    if (rule.direction() == "up" ? target < current : target > current) return {};
    move.kind = MoveKind::kSet;
    move.value = space::FromProto(it->second);
    return {move};
  }
  std::optional<Move> step = StepFor(space, rule.knob(), rule.direction());
  if (!step.has_value()) return {};
  move.kind = step->kind;
  move.amount = step->amount;
  return {move};
}

}  // namespace

std::optional<vmle::v1::Configuration> ApplyMove(const space::SearchSpace& space,
                                                 const vmle::v1::Configuration& from, const Move& move) {
  const space::ParamSpec* p = space.Find(move.knob);
  if (p == nullptr) return std::nullopt;
  if (!move.needs.empty()) {
    const space::ParamSpec* need = space.Find(move.needs);
    if (need == nullptr || !SwitchedOn(*need, ValueOf(*need, from))) return std::nullopt;
  }
  const vmle::v1::ParamValue current = ValueOf(*p, from);
  std::optional<vmle::v1::ParamValue> next = NextValue(*p, current, move);
  if (!next.has_value() || space::SameValue(*next, current)) return std::nullopt;
  vmle::v1::Configuration out = from;
  (*out.mutable_values())[p->name] = *std::move(next);
  return out;
}

std::optional<Move> Continuation(const Trajectory& trajectory, int index) {
  const Step& step = trajectory.steps()[static_cast<size_t>(index)];
  if (!trajectory.Helped(step)) return std::nullopt;
  const space::ParamSpec* p = trajectory.space().Find(step.knob);
  if (p == nullptr || !IsNumeric(*p)) return std::nullopt;
  const double from = std::strtod(step.from_value.c_str(), nullptr);
  const double to = std::strtod(step.to_value.c_str(), nullptr);
  const bool scale = Multiplicative(*p) && from > 0 && to > 0;
  Move move;
  move.knob = step.knob;
  move.kind = scale ? MoveKind::kScale : MoveKind::kShift;
  move.amount = scale ? to / from : to - from;
  const Step& before = trajectory.steps()[static_cast<size_t>(step.parent)];
  const bool larger = before.knob == step.knob && before.direction == step.direction && trajectory.Helped(before);
  if (larger) move.amount = scale ? move.amount * move.amount : 2 * move.amount;
  move.mechanism = absl::StrFormat("line search: %s helped (%+.1f%%), so the optimum lies further this way%s; %s",
                                   ChangePhrase(step.knob, step.direction), 100 * step.gain,
                                   larger ? " (a doubled step after two gains)" : "",
                                   MechanismOf(step.knob, step.direction));
  move.risk = "overshoots the optimum of " + step.knob;
  return move;
}

std::optional<Move> EpochBudget(const Trajectory& trajectory, int index) {
  const vmle::v1::Trial& trial = trajectory.history()[static_cast<size_t>(index)];
  const space::ParamSpec* p = trajectory.space().Find("max_epochs");
  if (p == nullptr || !IsNumeric(*p) || trial.best_epoch() <= 0) return std::nullopt;
  const double epochs = NumberOf(ValueOf(*p, trial.config()));
  if (trial.best_epoch() < epochs || epochs >= p->max) return std::nullopt;
  Move move;
  move.knob = "max_epochs";
  move.kind = MoveKind::kScale;
  move.amount = 2.0;
  move.mechanism = absl::StrFormat(
      "the best trial was still improving at its last epoch (best epoch %d of %d): training was cut off "
      "before it converged, and early stopping ends a longer run once it stops improving",
      trial.best_epoch(), static_cast<int>(epochs));
  move.risk = "twice the training time when the extra epochs do not help";
  return move;
}

std::vector<Move> Refinements(const Trajectory& trajectory) {
  std::vector<Move> out;
  std::vector<std::string> seen;
  for (const Step& step : trajectory.steps()) {
    const space::ParamSpec* p = trajectory.space().Find(step.knob);
    if (!trajectory.Helped(step) || p == nullptr || !IsNumeric(*p)) continue;
    if (std::find(seen.begin(), seen.end(), step.knob) != seen.end()) continue;
    seen.push_back(step.knob);
    const double from = std::strtod(step.from_value.c_str(), nullptr);
    const double to = std::strtod(step.to_value.c_str(), nullptr);
    const bool scale = Multiplicative(*p) && from > 0 && to > 0;
    const double half = scale ? std::sqrt(std::max(to / from, from / to)) : std::abs(to - from) / 2;
    for (int sign : {1, -1}) {
      Move m;
      m.knob = step.knob;
      m.kind = scale ? MoveKind::kScale : MoveKind::kShift;
      m.amount = scale ? (sign > 0 ? half : 1 / half) : sign * half;
      m.mechanism = "refinement: " + step.knob + " helped before; a half step around the best value finds its optimum";
      m.risk = "a gain within the noise";
      out.push_back(std::move(m));
    }
  }
  return out;
}

std::vector<TransferredMove> TransferredMoves(const space::SearchSpace& space,
                                              const std::vector<vmle::v1::CognitionSummary>& recalled,
                                              const std::optional<vmle::v1::DatasetProfile>& profile,
                                              const vmle::v1::Configuration& from) {
  std::vector<TransferredMove> out;
  for (const vmle::v1::CognitionSummary& summary : recalled) {
    for (const vmle::v1::CognitionRule& rule : summary.rules()) {
      std::optional<ProfileCondition> condition = ProfileCondition::Parse(rule.condition());
      if (!condition.has_value()) continue;
      const std::optional<bool> holds = condition->Holds(profile);
      if (holds.has_value() && !*holds) continue;
      for (Move& move : RuleMoves(space, rule, summary, from)) {
        out.push_back({std::move(move), rule.confidence() * rule.effect(), holds.has_value(), summary.id()});
      }
    }
  }
  std::stable_sort(out.begin(), out.end(), [](const TransferredMove& a, const TransferredMove& b) {
    if (a.holds != b.holds) return a.holds;
    return a.strength > b.strength;
  });
  return out;
}

std::vector<std::pair<std::string, std::string>> TransferredFailures(
    const std::vector<vmle::v1::CognitionSummary>& recalled) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const vmle::v1::CognitionSummary& summary : recalled) {
    for (const std::string& failed : summary.failed_attempts()) {
      std::vector<std::string> words = absl::StrSplit(failed, ' ', absl::SkipEmpty());
      if (words.size() >= 2) out.emplace_back(words[0], words[1]);
    }
  }
  return out;
}

std::optional<std::pair<vmle::v1::Configuration, std::string>> TransferredConfiguration(
    const space::SearchSpace& space, const std::vector<vmle::v1::CognitionSummary>& recalled,
    vmle::v1::Backbone backbone) {
  for (const vmle::v1::CognitionSummary& summary : recalled) {
    const bool same_backbone = summary.backbone() == backbone || summary.backbone() == vmle::v1::BACKBONE_UNSPECIFIED;
    if (!same_backbone || summary.best_config().values().empty()) continue;
    vmle::v1::Configuration config = DefaultConfiguration(space);
    for (const space::ParamSpec& p : space.params) {
      auto it = summary.best_config().values().find(p.name);
      if (it == summary.best_config().values().end()) continue;
      Move set{p.name, MoveKind::kSet, 0, space::FromProto(it->second), "", "", "", ""};
      if (auto next = NextValue(p, ValueOf(p, config), set); next.has_value()) (*config.mutable_values())[p.name] = *next;
    }
    return std::make_pair(std::move(config), summary.id());
  }
  return std::nullopt;
}

}  // namespace vmle::agent::heuristic
