#include "services/agent/planner/planner_factory.h"

#include <functional>

#include "absl/strings/str_join.h"
#include "services/agent/planner/grid_planner.h"
#include "services/agent/planner/heuristic_planner.h"
#include "services/agent/planner/llm_planner.h"
#include "services/agent/planner/planner_options.h"
#include "services/agent/planner/random_planner.h"
#include "services/agent/planner/tpe_planner.h"

namespace vmle::agent {
namespace {

using PlannerPtr = std::unique_ptr<Planner>;

// One row per planner: its name and a builder that parses the options first, so a
// builder's error is also the options' validation error.
struct PlannerEntry {
  std::string name;
  std::function<absl::StatusOr<PlannerPtr>(const vmle::v1::PlannerSpec&, const PlannerEnvironment&)> make;
};

// A planner that takes no options.
template <typename Make>
absl::StatusOr<PlannerPtr> WithoutOptions(const vmle::v1::PlannerSpec& spec, Make make) {
  if (absl::Status s = OptionReader(spec).NoOthers(); !s.ok()) return s;
  return PlannerPtr(make());
}

// A planner whose options `parse` reads into the argument of its constructor.
template <typename T, typename Parse>
absl::StatusOr<PlannerPtr> WithOptions(const vmle::v1::PlannerSpec& spec, Parse parse) {
  auto options = parse(spec);
  if (!options.ok()) return options.status();
  return PlannerPtr(std::make_unique<T>(*std::move(options)));
}

const std::vector<PlannerEntry>& Registry() {
  static const auto* entries = new std::vector<PlannerEntry>{
      {"grid", [](const auto& spec, const auto&) { return WithOptions<GridPlanner>(spec, ParseGridOptions); }},
      {"random",
       [](const auto& spec, const auto&) {
         return WithoutOptions(spec, [] { return std::make_unique<RandomPlanner>(false); });
       }},
      {"random_default",
       [](const auto& spec, const auto&) {
         return WithoutOptions(spec, [] { return std::make_unique<RandomPlanner>(true); });
       }},
      {"tpe", [](const auto& spec, const auto&) { return WithOptions<TpePlanner>(spec, ParseTpeOptions); }},
      {"heuristic",
       [](const auto& spec, const auto&) { return WithOptions<HeuristicPlanner>(spec, ParseHeuristicOptions); }},
      {"llm", MakeLlmPlanner},
      {"opro", MakeOproPlanner},
  };
  return *entries;
}

absl::StatusOr<const PlannerEntry*> Find(const vmle::v1::PlannerSpec& spec) {
  const std::string name = spec.name().empty() ? "heuristic" : spec.name();
  for (const PlannerEntry& e : Registry()) {
    if (e.name == name) return &e;
  }
  return absl::InvalidArgumentError("planner.name: unknown planner \"" + name + "\"" +
                                    (spec.name().empty() ? " (the default)" : "") + "; expected one of " +
                                    absl::StrJoin(PlannerNames(), ", "));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Planner>> MakePlanner(const vmle::v1::PlannerSpec& spec,
                                                     const PlannerEnvironment& environment) {
  absl::StatusOr<const PlannerEntry*> entry = Find(spec);
  if (!entry.ok()) return entry.status();
  return (*entry)->make(spec, environment);
}

absl::Status ValidatePlannerOptions(const vmle::v1::PlannerSpec& spec) { return MakePlanner(spec).status(); }

std::vector<std::string> PlannerNames() {
  std::vector<std::string> names;
  for (const PlannerEntry& e : Registry()) names.push_back(e.name);
  return names;
}

}  // namespace vmle::agent
