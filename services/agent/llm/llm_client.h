// Chat completion against a large language model, the way the llm and opro planners
// talk to one (DESIGN.md, "Planners"). Three implementations: HttpLlmClient (any
// OpenAI-compatible endpoint: vLLM, Ollama, llama.cpp, OpenAI), RecordingLlmClient
// (writes every exchange to a transcript) and ReplayLlmClient (serves a transcript
// back, for reproducible runs and tests).
//
// Errors, shared by every implementation so that callers can tell them apart:
//  * DEADLINE_EXCEEDED, UNAVAILABLE, RESOURCE_EXHAUSTED: the endpoint timed out, could
//    not be reached or answered 5xx, or kept answering 429, after retries;
//  * INVALID_ARGUMENT, UNAUTHENTICATED, PERMISSION_DENIED, NOT_FOUND: the endpoint
//    refused the request (HTTP 4xx other than 429); retrying will not help;
//  * INTERNAL: the endpoint's answer is not a chat completion;
//  * FAILED_PRECONDITION, OUT_OF_RANGE: a replayed run diverged from its transcript
//    or ran past its end (ReplayLlmClient only).
// No error message ever contains the API key.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace vmle::agent::llm {

// One message of a chat: role "system", "user" or "assistant".
struct ChatMessage {
  std::string role;
  std::string content;

  friend bool operator==(const ChatMessage& a, const ChatMessage& b) {
    return a.role == b.role && a.content == b.content;
  }
};

// Tokens the endpoint counted for one completion (0 when it does not report usage).
struct TokenUsage {
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
};

struct ChatReply {
  // The assistant's message.
  std::string text;
  TokenUsage usage;
  // Wall time of the successful request (retries and backoff not included).
  absl::Duration latency;
};

class LlmClient {
 public:
  virtual ~LlmClient() = default;

  // The assistant's reply to `messages` (oldest first). Blocks until the reply, an
  // error, or the client's timeouts and retries are used up. Thread-safe.
  virtual absl::StatusOr<ChatReply> Complete(const std::vector<ChatMessage>& messages) = 0;
};

}  // namespace vmle::agent::llm
