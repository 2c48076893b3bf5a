// An LlmClient over an OpenAI-compatible chat-completions endpoint
// (POST <base_url>/chat/completions) with libcurl.
//
// Each Complete is one logical request: attempts that time out, cannot connect or
// get HTTP 429 or 5xx are retried after a capped exponential backoff (a Retry-After
// header lengthens the wait, never beyond max_backoff); other failures return at once.
// The API key goes only into the Authorization header: it is never logged, and any
// text the endpoint echoes back has it redacted before it reaches an error.
//
// Thread-safe: every attempt uses its own curl handle.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "prometheus/registry.h"
#include "services/agent/llm/llm_client.h"
#include "services/agent/llm/llm_metrics.h"

namespace vmle::agent::llm {

struct HttpLlmClientOptions {
  // Endpoint root, e.g. "http://localhost:8000/v1"; "/chat/completions" is appended.
  std::string base_url = "http://localhost:8000/v1";
  // Model name sent with every request (required).
  std::string model;
  // Sampling temperature sent with every request.
  double temperature = 0.2;
  // Limit of one attempt, connection included.
  absl::Duration timeout = absl::Seconds(120);
  // Bearer token; empty sends no Authorization header (local servers).
  std::string api_key;
  // Attempts per request (1 = no retries).
  int max_attempts = 4;
  // Wait before the second attempt, doubled after each failed attempt up to max_backoff.
  absl::Duration initial_backoff = absl::Milliseconds(500);
  absl::Duration max_backoff = absl::Seconds(8);
  // Metrics (llm_metrics.h) go here when set; must outlive the client.
  prometheus::Registry* registry = nullptr;
  // When set and it turns true (the agent shutting down), the attempt in flight is
  // aborted and no retry follows: CANCELLED.
  std::shared_ptr<const std::atomic<bool>> cancel;
};

// The API key named by the options: the contents of `file` (surrounding whitespace
// trimmed) when `file` is set, else the value of environment variable `env` ("" when
// unset or `env` is empty). INVALID_ARGUMENT when the file cannot be read or is empty;
// the message names the file, never its contents.
absl::StatusOr<std::string> ResolveApiKey(const std::string& env, const std::string& file);

class HttpLlmClient final : public LlmClient {
 public:
  // INVALID_ARGUMENT when the base URL or the model is empty or a bound is not
  // positive.
  static absl::StatusOr<std::unique_ptr<HttpLlmClient>> Create(HttpLlmClientOptions options);

  absl::StatusOr<ChatReply> Complete(const std::vector<ChatMessage>& messages) override;

 private:
  struct Attempt;

  explicit HttpLlmClient(HttpLlmClientOptions options);
  Attempt Post(const std::string& body) const;
  absl::Duration Backoff(int failed_attempts, absl::Duration retry_after) const;
  // `text` with the API key replaced by "[redacted]".
  std::string Redact(std::string text) const;

  const HttpLlmClientOptions options_;
  const std::string url_;
  std::unique_ptr<LlmMetrics> metrics_;
};

}  // namespace vmle::agent::llm
