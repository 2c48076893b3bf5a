// Reading the replies of the llm and opro planners: the JSON object in the reply
// (Markdown code fences and text around it are tolerated), checked field by field.
// Every error is INVALID_ARGUMENT with a message written for the model, since it is
// sent back to it as the repair request (e.g. "proposals[0].configuration.lr: ...").
//
// Thread-safe: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/space/search_space.h"
#include "vmle/v1/memory.pb.h"
#include "vmle/v1/study.pb.h"

namespace vmle::agent {

// One proposal read from a reply: the configuration (every parameter of the space:
// those the reply names, typed and checked one by one, the others from `base`) and
// the reasoning fields.
struct ReplyProposal {
  vmle::v1::Configuration config;
  vmle::v1::Proposal proposal;
};

// The proposals of a reply, {"proposals": [...]} or a single proposal object.
// Proposals with a bad field are left out and their errors listed, so that the good
// ones of a reply can be kept; the whole reply fails only when it is not JSON of
// that shape.
struct ReplyProposals {
  std::vector<ReplyProposal> proposals;
  std::vector<std::string> errors;
};
absl::StatusOr<ReplyProposals> ParseProposals(std::string_view reply, const space::SearchSpace& space,
                                              const vmle::v1::Configuration& base);

// {observation, explanation, generalized_rule, next_action}, all non-empty strings.
absl::StatusOr<vmle::v1::Reflection> ParseReflection(std::string_view reply);

// {prose, rules, search_order, failed_attempts}; every rule's knob must be a
// parameter of `space`, its confidence in [0, 1].
absl::StatusOr<vmle::v1::CognitionSummary> ParseSummary(std::string_view reply, const space::SearchSpace& space);

}  // namespace vmle::agent
