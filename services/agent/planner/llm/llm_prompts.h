// The prompts of the llm and opro planners (DESIGN.md, "Planners"): plain text with
// Markdown headings, the reply format spelled out as JSON. Every prompt is a pure
// function of the PlanningContext, so a replayed transcript matches a rerun.
//
// What a prompt may carry: the dataset profile, the search space (names, types,
// bounds, choices, defaults, descriptions, conditions), the fixed parameters, the
// current best, a compact trial table with the validation objective only (test
// metrics never reach a planner), pending trials, and for the llm planner the L1
// reflections, L2 insights and recalled cognition summaries of the context (empty
// sections are left out, so a study with memory or transfer off shows none).
//
// Thread-safe: pure functions.
#pragma once

#include <string>
#include <vector>

#include "common/space/search_space.h"
#include "services/agent/llm/llm_client.h"
#include "services/agent/planner/planner.h"
#include "vmle/v1/study.pb.h"

namespace vmle::agent {

// The objective as prompts write it, e.g. "val NDCG@10 (maximise)".
std::string ObjectiveText(const vmle::v1::StudySpec& spec);

// The best finished trial of `history` on the objective, or nullptr.
const vmle::v1::Trial* BestTrial(const PlanningContext& context);

// llm: the system and user messages asking for `wanted` proposals.
std::vector<llm::ChatMessage> LlmProposeMessages(const PlanningContext& context, const space::SearchSpace& space,
                                                 int wanted);

// opro: the meta-prompt of Yang et al. (2023): the task, the search space and the
// best trials as (configuration, score) pairs sorted from worst to best; nothing else.
std::vector<llm::ChatMessage> OproProposeMessages(const PlanningContext& context, const space::SearchSpace& space,
                                                  int wanted);

// llm: a reflection on `finished` (its change, outcome against the best before it,
// validation curve) as JSON {observation, explanation, generalized_rule, next_action}.
std::vector<llm::ChatMessage> ReflectMessages(const PlanningContext& context, const space::SearchSpace& space,
                                              const vmle::v1::Trial& finished);

// llm: the cognition summary of the study as JSON {prose, rules, search_order,
// failed_attempts}.
std::vector<llm::ChatMessage> DistillMessages(const PlanningContext& context, const space::SearchSpace& space);

// The follow-up user message after an unusable reply: the error and, when some
// proposals were accepted already, how many more are wanted.
std::string RepairMessage(const std::string& error, int accepted, int still_wanted);

}  // namespace vmle::agent
