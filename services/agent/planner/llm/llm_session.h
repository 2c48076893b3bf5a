// The conversation of one llm/opro planner call: ask, read the reply, and when it is
// unusable re-ask with the error (up to max_repairs times); what cannot be repaired
// falls back to the heuristic planner for that call, recorded in the proposal
// (Proposal.fallback, fallback_reason). Shared by LlmPlanner and OproPlanner.
//
// Errors of the LLM client fall back too (after the client's own retries), except a
// replay that diverged from its transcript (FAILED_PRECONDITION, OUT_OF_RANGE): a
// replay must reproduce a run or fail, so those are returned to the agent.
//
// Not thread-safe; lives for one planner call.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "services/agent/llm/llm_client.h"
#include "services/agent/planner/planner.h"

namespace vmle::agent {

// Whether a client error ends the planner call instead of falling back.
bool IsReplayError(const absl::Status& status);

class LlmSession {
 public:
  // `client` must outlive the session.
  LlmSession(llm::LlmClient& client, std::vector<llm::ChatMessage> messages, int max_repairs)
      : client_(client), messages_(std::move(messages)), max_repairs_(max_repairs) {}

  // Asks, and re-asks while `read` rejects the reply (its status message is sent back
  // through `repair`, which turns it into the follow-up message). Returns the value of
  // the first reply `read` accepts; otherwise the last error, prefixed with what went
  // wrong ("LLM reply unusable after 3 attempts: ..." or "LLM request failed: ...").
  // Replay errors come back unchanged (see IsReplayError).
  template <typename T>
  absl::StatusOr<T> Ask(const std::function<absl::StatusOr<T>(const std::string&)>& read,
                        const std::function<std::string(const std::string&)>& repair);

 private:
  // One round trip; appends the assistant's reply to the conversation.
  absl::StatusOr<std::string> Send();

  llm::LlmClient& client_;
  std::vector<llm::ChatMessage> messages_;
  const int max_repairs_;
};

template <typename T>
absl::StatusOr<T> LlmSession::Ask(const std::function<absl::StatusOr<T>(const std::string&)>& read,
                                  const std::function<std::string(const std::string&)>& repair) {
  absl::Status last;
  for (int attempt = 0; attempt <= max_repairs_; ++attempt) {
    if (attempt > 0) messages_.push_back({"user", repair(std::string(last.message()))});
    absl::StatusOr<std::string> reply = Send();
    if (!reply.ok()) {
      if (IsReplayError(reply.status())) return reply.status();
      return absl::Status(reply.status().code(), "LLM request failed: " + std::string(reply.status().message()));
    }
    absl::StatusOr<T> value = read(*reply);
    if (value.ok()) return value;
    last = value.status();
  }
  return absl::InvalidArgumentError("LLM reply unusable after " + std::to_string(max_repairs_ + 1) +
                                    " attempts: " + std::string(last.message()));
}

}  // namespace vmle::agent
