// A fake OpenAI-compatible chat-completions server for the LLM tests: HTTP/1.1 on a
// loopback port chosen by the kernel, one thread per connection, every request
// answered by a scripted handler (status, body, headers, delay) and recorded.
// Connections close after one exchange. Thread-safe; the destructor stops and joins
// every thread (a delayed answer is cut short).
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "services/agent/llm/llm_endpoints.h"

namespace vmle::agent::testing {

struct FakeRequest {
  std::string method;
  std::string path;
  // The Authorization header ("" when absent).
  std::string authorization;
  std::string body;
  // The chat messages of the JSON body as (role, content).
  std::vector<std::pair<std::string, std::string>> messages;
  // The "model" and "temperature" of the body.
  std::string model;
  double temperature = -1;
};

struct FakeResponse {
  int status = 200;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  // Wait before answering (longer than the client's timeout: a timeout).
  absl::Duration delay;
};

// A chat completion whose message content is `content`.
FakeResponse Completion(const std::string& content, int prompt_tokens = 11, int completion_tokens = 7);
// An error answer with `status` and a JSON error body.
FakeResponse HttpError(int status, const std::string& message = "scripted error");
// A well-formed completion sent after `delay`.
FakeResponse Slow(absl::Duration delay);

class FakeLlmServer {
 public:
  // `handler` gets each request and its 0-based arrival index.
  using Handler = std::function<FakeResponse(const FakeRequest&, int index)>;

  explicit FakeLlmServer(Handler handler);
  // Answers the scripted responses in order, then HTTP 500 "script exhausted".
  explicit FakeLlmServer(std::vector<FakeResponse> script);
  ~FakeLlmServer();

  // "http://127.0.0.1:<port>/v1".
  std::string base_url() const;
  std::vector<FakeRequest> requests() const;
  int request_count() const;
  // An operator configuration with this server as its only endpoint "fake": model
  // "fake-model" (and "fake"), `timeout` an attempt, `max_attempts`, transcripts under
  // `transcript_dir` ("" = none).
  llm::LlmConfig Config(const std::string& transcript_dir = "", absl::Duration timeout = absl::Seconds(2),
                        int max_attempts = 4) const;

 private:
  void AcceptLoop();
  void Serve(int fd);

  Handler handler_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread acceptor_;
  mutable absl::Mutex mu_;
  std::vector<FakeRequest> requests_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> connections_ ABSL_GUARDED_BY(mu_);
};

}  // namespace vmle::agent::testing
