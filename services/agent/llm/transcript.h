// Transcripts of LLM exchanges: RecordingLlmClient writes them, ReplayLlmClient serves
// them back, so that a study planned by an LLM can be rerun without the endpoint and
// give the same trials.
//
// Format: JSON lines, one exchange per line, in call order:
//   {"request": {"messages": [{"role": "...", "content": "..."}, ...]},
//    "reply": {"text": "...", "prompt_tokens": N, "completion_tokens": N, "latency_ms": N}}
// or, for a request that failed, "error": {"code": "UNAVAILABLE", "message": "..."} in
// place of "reply" (a replay then fails the same way, so a fallback is reproduced too).
// Transcripts hold messages and replies only: no endpoint headers, no API key.
#pragma once

#include <cstdio>
#include <istream>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "services/agent/llm/llm_client.h"

namespace vmle::agent::llm {

// One recorded exchange: the request and either its reply or its error.
struct Exchange {
  std::vector<ChatMessage> messages;
  absl::StatusOr<ChatReply> reply;
};

// The transcript line of `exchange` (no trailing newline), and its inverse.
// ParseExchange: INVALID_ARGUMENT saying what is missing.
std::string ExchangeLine(const Exchange& exchange);
absl::StatusOr<Exchange> ParseExchange(const std::string& line);

// Every exchange of the transcript at `path`. NOT_FOUND when it cannot be opened,
// INVALID_ARGUMENT naming the line that does not parse.
absl::StatusOr<std::vector<Exchange>> ReadTranscript(const std::string& path);
// The same for a transcript's text; errors start with `where`:line.
absl::StatusOr<std::vector<Exchange>> ParseTranscript(std::istream& in, const std::string& where);

// Passes every request to `inner` and appends the exchange (reply or error) to the
// transcript at `path`, flushed line by line. Thread-safe: lines never interleave.
class RecordingLlmClient final : public LlmClient {
 public:
  // Opens `path` for appending (created when missing). INVALID_ARGUMENT naming the
  // path when it cannot be opened.
  static absl::StatusOr<std::unique_ptr<RecordingLlmClient>> Create(std::unique_ptr<LlmClient> inner,
                                                                   const std::string& path);
  ~RecordingLlmClient() override;

  // The inner client's answer. A reply that cannot be written to the transcript
  // becomes INTERNAL, so a recording never silently misses an exchange.
  absl::StatusOr<ChatReply> Complete(const std::vector<ChatMessage>& messages) override;

 private:
  RecordingLlmClient(std::unique_ptr<LlmClient> inner, std::string path, std::FILE* file);

  const std::unique_ptr<LlmClient> inner_;
  const std::string path_;
  absl::Mutex mu_;
  std::FILE* file_ ABSL_GUARDED_BY(mu_);
};

// Serves the exchanges of a transcript: each request by the first exchange not served
// yet that recorded the same request (same messages, roles and contents) — in order
// when a run repeats the recorded one, and skipping the rounds an agent already ran
// before it restarted. A request no unserved exchange recorded is FAILED_PRECONDITION
// naming the first unserved exchange and the first difference; when every exchange has
// been served, OUT_OF_RANGE. A recorded error is returned as recorded. Thread-safe.
class ReplayLlmClient final : public LlmClient {
 public:
  // NOT_FOUND / INVALID_ARGUMENT as ReadTranscript.
  static absl::StatusOr<std::unique_ptr<ReplayLlmClient>> Open(const std::string& path);

  absl::StatusOr<ChatReply> Complete(const std::vector<ChatMessage>& messages) override;

  // Exchanges not served yet.
  int remaining() const;

 private:
  ReplayLlmClient(std::string path, std::vector<Exchange> exchanges)
      : path_(std::move(path)), exchanges_(std::move(exchanges)), served_(exchanges_.size(), false) {}

  const std::string path_;
  const std::vector<Exchange> exchanges_;
  mutable absl::Mutex mu_;
  std::vector<bool> served_ ABSL_GUARDED_BY(mu_);
  size_t served_count_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace vmle::agent::llm
