// Planners by name (PlannerSpec.name). One table lists every planner with the
// functions that check its options and build it; adding a planner ("heuristic",
// "llm", "opro") is adding a row to that table in planner_factory.cc.
//
// Errors are INVALID_ARGUMENT naming the field: "planner.name: ..." for an unknown
// planner (the message lists the known names), "planner.options.<key>: ..." for a bad
// option, or one that names a file, URL or environment variable. Thread-safe.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "services/agent/planner/planner.h"
#include "services/agent/planner/planner_environment.h"
#include "vmle/v1/study.pb.h"

namespace vmle::agent {


// The planner a study spec asks for, its options parsed. An empty name means the
// default planner, "heuristic". The llm and opro planners get their fallback planner
// (kLlmFallbackPlanner) built here.
absl::StatusOr<std::unique_ptr<Planner>> MakePlanner(const vmle::v1::PlannerSpec& spec,
                                                     const PlannerEnvironment& environment = {});

// Checks the name and the options without building the planner or reading any
// configuration (for submit-time validation of a study spec). Options that name a
// file, a URL or an environment variable are refused for every planner: a key ending
// in _file, _path, _dir, _env or _url, or a value that holds "://".
absl::Status ValidatePlannerOptions(const vmle::v1::PlannerSpec& spec);

// The names MakePlanner knows, in table order.
std::vector<std::string> PlannerNames();

}  // namespace vmle::agent
