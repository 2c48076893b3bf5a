#include "services/agent/planner/llm/llm_session.h"

namespace vmle::agent {

bool IsReplayError(const absl::Status& status) {
  return absl::IsFailedPrecondition(status) || absl::IsOutOfRange(status);
}

absl::StatusOr<std::string> LlmSession::Send() {
  absl::StatusOr<llm::ChatReply> reply = client_.Complete(messages_);
  if (!reply.ok()) return reply.status();
  messages_.push_back({"assistant", reply->text});
  return reply->text;
}

}  // namespace vmle::agent
