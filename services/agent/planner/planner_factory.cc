#include "services/agent/planner/planner_factory.h"

#include <functional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status/message.h"
#include "common/status/status_macros.h"
#include "services/agent/planner/classical/grid_planner.h"
#include "services/agent/planner/heuristic/heuristic_planner.h"
#include "services/agent/planner/llm/llm_planner.h"
#include "services/agent/planner/planner_options.h"
#include "services/agent/planner/classical/random_planner.h"
#include "services/agent/planner/classical/tpe_planner.h"

namespace vmle::agent {
namespace {

using PlannerPtr = std::unique_ptr<Planner>;

// One row per planner: its name and a builder that parses the options first, so a
// builder's error is also the options' validation error.
struct PlannerEntry {
  std::string name;
  std::function<absl::StatusOr<PlannerPtr>(const vmle::v1::PlannerSpec&, const PlannerEnvironment&)> make;
  // Checks the options without the environment; empty: `make` with none.
  std::function<absl::Status(const vmle::v1::PlannerSpec&)> check;
};

// No planner option may name a file, a URL or an environment variable: those are
// the operator's (DESIGN.md, "Security").
absl::Status RefuseExternalReferences(const vmle::v1::PlannerSpec& spec) {
  for (const auto& [key, value] : spec.options()) {
    const bool names_one = absl::EndsWith(key, "_file") || absl::EndsWith(key, "_path") ||
                           absl::EndsWith(key, "_dir") || absl::EndsWith(key, "_env") ||
                           absl::EndsWith(key, "_url") || absl::StrContains(value, "://");
    if (names_one) {
      return absl::InvalidArgumentError(absl::StrCat(
          "planner.options.", TruncateForMessage(key),
          ": names a file, a URL or an environment variable; those are operator configuration, never study options"));
    }
  }
  return absl::OkStatus();
}

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

// A builder of a planner that falls back to kLlmFallbackPlanner: the fallback is
// built here and handed to it.
template <typename Make>
auto WithFallback(Make make) {
  return [make](const vmle::v1::PlannerSpec& spec, const PlannerEnvironment& environment) -> absl::StatusOr<PlannerPtr> {
    vmle::v1::PlannerSpec fallback_spec;
    fallback_spec.set_name(kLlmFallbackPlanner);
    ASSIGN_OR_RETURN(PlannerPtr fallback, MakePlanner(fallback_spec));
    return make(spec, environment, std::move(fallback));
  };
}

const std::vector<PlannerEntry>& Registry() {
  static const auto* entries = new std::vector<PlannerEntry>{
      {"grid", [](const auto& spec, const auto&) { return WithOptions<GridPlanner>(spec, ParseGridOptions); },
       nullptr},
      {"random",
       [](const auto& spec, const auto&) {
         return WithoutOptions(spec, [] { return std::make_unique<RandomPlanner>(false); });
       },
       nullptr},
      {"random_default",
       [](const auto& spec, const auto&) {
         return WithoutOptions(spec, [] { return std::make_unique<RandomPlanner>(true); });
       },
       nullptr},
      {"tpe", [](const auto& spec, const auto&) { return WithOptions<TpePlanner>(spec, ParseTpeOptions); }, nullptr},
      {"heuristic",
       [](const auto& spec, const auto&) { return WithOptions<HeuristicPlanner>(spec, ParseHeuristicOptions); },
       nullptr},
      {"llm", WithFallback(MakeLlmPlanner), [](const auto& spec) { return ParseLlmPlannerOptions(spec).status(); }},
      {"opro", WithFallback(MakeOproPlanner), [](const auto& spec) { return ParseLlmPlannerOptions(spec).status(); }},
  };
  return *entries;
}

absl::StatusOr<const PlannerEntry*> Find(const vmle::v1::PlannerSpec& spec) {
  const std::string name = spec.name().empty() ? "heuristic" : spec.name();
  for (const PlannerEntry& e : Registry()) {
    if (e.name == name) return &e;
  }
  return absl::InvalidArgumentError("planner.name: unknown planner \"" + TruncateForMessage(name) + "\"" +
                                    (spec.name().empty() ? " (the default)" : "") + "; expected one of " +
                                    absl::StrJoin(PlannerNames(), ", "));
}

// The spec's planner, once no option names something that is the operator's.
absl::StatusOr<const PlannerEntry*> FindAllowed(const vmle::v1::PlannerSpec& spec) {
  ASSIGN_OR_RETURN(const PlannerEntry* entry, Find(spec));
  RETURN_IF_ERROR(RefuseExternalReferences(spec));
  return entry;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Planner>> MakePlanner(const vmle::v1::PlannerSpec& spec,
                                                     const PlannerEnvironment& environment) {
  ASSIGN_OR_RETURN(const PlannerEntry* entry, FindAllowed(spec));
  return entry->make(spec, environment);
}

absl::Status ValidatePlannerOptions(const vmle::v1::PlannerSpec& spec) {
  absl::StatusOr<const PlannerEntry*> entry = FindAllowed(spec);
  if (!entry.ok()) return entry.status();
  if ((*entry)->check) return (*entry)->check(spec);
  return (*entry)->make(spec, {}).status();
}

std::vector<std::string> PlannerNames() {
  std::vector<std::string> names;
  for (const PlannerEntry& e : Registry()) names.push_back(e.name);
  return names;
}

}  // namespace vmle::agent
