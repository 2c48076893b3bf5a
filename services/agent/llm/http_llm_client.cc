#include "services/agent/llm/http_llm_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "common/logging/logging.h"
#include "nlohmann/json.hpp"

namespace vmle::agent::llm {
namespace {

using nlohmann::json;

// Longest part of an endpoint's error body quoted in a Status.
constexpr size_t kQuotedBody = 300;

void InitCurlOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

size_t AppendBody(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

size_t ReadRetryAfter(char* data, size_t size, size_t n, void* out) {
  absl::string_view line(data, size * n);
  constexpr absl::string_view kName = "retry-after:";
  if (line.size() > kName.size() && absl::StartsWithIgnoreCase(line, kName)) {
    int seconds = 0;
    if (absl::SimpleAtoi(absl::StripAsciiWhitespace(line.substr(kName.size())), &seconds) && seconds > 0) {
      *static_cast<absl::Duration*>(out) = absl::Seconds(seconds);
    }
  }
  return size * n;
}

std::string RequestBody(const HttpLlmClientOptions& options, const std::vector<ChatMessage>& messages) {
  json body = {{"model", options.model}, {"temperature", options.temperature}, {"messages", json::array()}};
  for (const ChatMessage& m : messages) body["messages"].push_back({{"role", m.role}, {"content", m.content}});
  return body.dump();
}

// The reply of a 2xx answer, or why it is not a chat completion.
absl::StatusOr<ChatReply> ParseCompletionJson(const std::string& body) {
  const json doc = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) return absl::InternalError("the answer is not JSON");
  const auto choices = doc.find("choices");
  if (choices == doc.end() || !choices->is_array() || choices->empty()) {
    return absl::InternalError("the answer has no choices");
  }
  if (!(*choices)[0].is_object()) return absl::InternalError("choices[0] is not an object");
  const json& message = (*choices)[0].value("message", json::object());
  const auto content = message.find("content");
  if (content == message.end() || !content->is_string()) {
    return absl::InternalError("choices[0].message.content is not a string");
  }
  ChatReply reply;
  reply.text = content->get<std::string>();
  const json usage = doc.value("usage", json::object());
  if (usage.is_object()) {
    reply.usage.prompt_tokens = usage.value("prompt_tokens", int64_t{0});
    reply.usage.completion_tokens = usage.value("completion_tokens", int64_t{0});
  }
  return reply;
}

absl::StatusOr<ChatReply> ParseCompletion(const std::string& body) {
  try {
    return ParseCompletionJson(body);
  } catch (const json::exception& e) {
    return absl::InternalError(absl::StrCat("the answer is not a chat completion: ", e.what()));
  }
}

// How one attempt ended: the metrics outcome, whether to retry, and the error.
struct Verdict {
  std::string outcome;
  bool retry = false;
  absl::Status error;
};

// A call ended because the agent is stopping (HttpLlmClientOptions::cancel).
absl::Status ShuttingDown() { return absl::CancelledError("cancelled: the agent is shutting down"); }

Verdict Judge(CURLcode curl, long http, const std::string& what) {
  switch (curl) {
    case CURLE_OK:
      break;
    case CURLE_OPERATION_TIMEDOUT:
      return {"timeout", true, absl::DeadlineExceededError(what)};
    case CURLE_ABORTED_BY_CALLBACK:
      return {"cancelled", false, ShuttingDown()};
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
      return {"connection_error", false, absl::InvalidArgumentError(what)};
    default:
      return {"connection_error", true, absl::UnavailableError(what)};
  }
  if (http == 429) return {"rate_limited", true, absl::ResourceExhaustedError(what)};
  if (http >= 500) return {"server_error", true, absl::UnavailableError(what)};
  if (http == 401) return {"client_error", false, absl::UnauthenticatedError(what)};
  if (http == 403) return {"client_error", false, absl::PermissionDeniedError(what)};
  if (http == 404) return {"client_error", false, absl::NotFoundError(what)};
  if (http >= 400) return {"client_error", false, absl::InvalidArgumentError(what)};
  if (http < 200 || http >= 300) return {"malformed", false, absl::InternalError(what)};
  return {"ok", false, absl::OkStatus()};
}

}  // namespace

// libcurl's progress callback: a non-zero return aborts the transfer.
int AbortIfCancelled(void* cancel, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<const std::atomic<bool>*>(cancel)->load() ? 1 : 0;
}

struct HttpLlmClient::Attempt {
  CURLcode curl = CURLE_OK;
  long http = 0;
  std::string body;
  std::string curl_error;
  absl::Duration retry_after;
  absl::Duration latency;
};

absl::StatusOr<std::string> ResolveApiKey(const std::string& env, const std::string& file) {
  if (!file.empty()) {
    std::ifstream in(file);
    std::stringstream text;
    text << in.rdbuf();
    if (!in) return absl::InvalidArgumentError("cannot read the API key file " + file);
    std::string key(absl::StripAsciiWhitespace(text.str()));
    if (key.empty()) return absl::InvalidArgumentError("the API key file " + file + " is empty");
    return key;
  }
  const char* value = env.empty() ? nullptr : std::getenv(env.c_str());
  return std::string(value == nullptr ? "" : value);
}

absl::StatusOr<std::unique_ptr<HttpLlmClient>> HttpLlmClient::Create(HttpLlmClientOptions options) {
  if (options.base_url.empty()) return absl::InvalidArgumentError("the LLM base URL is empty");
  if (options.model.empty()) return absl::InvalidArgumentError("the LLM model is empty");
  if (options.timeout <= absl::ZeroDuration() || options.max_attempts < 1 ||
      options.initial_backoff < absl::ZeroDuration() || options.max_backoff < options.initial_backoff) {
    return absl::InvalidArgumentError("LLM client: timeout, attempts and backoff must be positive");
  }
  InitCurlOnce();
  return std::unique_ptr<HttpLlmClient>(new HttpLlmClient(std::move(options)));
}

HttpLlmClient::HttpLlmClient(HttpLlmClientOptions options)
    : options_(std::move(options)),
      url_(std::string(absl::StripSuffix(options_.base_url, "/")) + "/chat/completions"),
      metrics_(options_.registry == nullptr ? nullptr : std::make_unique<LlmMetrics>(*options_.registry)) {}

HttpLlmClient::Attempt HttpLlmClient::Post(const std::string& body) const {
  Attempt attempt;
  CURL* curl = curl_easy_init();
  if (curl == nullptr) {
    attempt.curl = CURLE_FAILED_INIT;
    attempt.curl_error = "curl_easy_init failed";
    return attempt;
  }
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  if (!options_.api_key.empty()) {
    headers = curl_slist_append(headers, ("Authorization: Bearer " + options_.api_key).c_str());
  }
  char error[CURL_ERROR_SIZE] = {0};
  const long timeout_ms = static_cast<long>(absl::ToInt64Milliseconds(options_.timeout));
  curl_easy_setopt(curl, CURLOPT_URL, url_.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, AppendBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &attempt.body);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, ReadRetryAfter);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &attempt.retry_after);
  if (options_.cancel != nullptr) {
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, AbortIfCancelled);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, const_cast<std::atomic<bool>*>(options_.cancel.get()));
  }
  const absl::Time start = absl::Now();
  attempt.curl = curl_easy_perform(curl);
  attempt.latency = absl::Now() - start;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &attempt.http);
  attempt.curl_error = error[0] != '\0' ? error : curl_easy_strerror(attempt.curl);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  return attempt;
}

absl::Duration HttpLlmClient::Backoff(int failed_attempts, absl::Duration retry_after) const {
  absl::Duration wait = options_.initial_backoff;
  for (int i = 1; i < failed_attempts && wait < options_.max_backoff; ++i) wait *= 2;
  return std::min(std::max(wait, retry_after), options_.max_backoff);
}

std::string HttpLlmClient::Redact(std::string text) const {
  if (options_.api_key.empty()) return text;
  return absl::StrReplaceAll(text, {{options_.api_key, "[redacted]"}});
}

absl::StatusOr<ChatReply> HttpLlmClient::Complete(const std::vector<ChatMessage>& messages) {
  const std::string body = RequestBody(options_, messages);
  for (int attempt_number = 1;; ++attempt_number) {
    Attempt attempt = Post(body);
    const std::string what =
        attempt.curl != CURLE_OK
            ? attempt.curl_error
            : absl::StrCat("HTTP ", attempt.http, ": ", attempt.body.substr(0, kQuotedBody));
    Verdict verdict = Judge(attempt.curl, attempt.http, what);
    absl::StatusOr<ChatReply> reply = verdict.error.ok() ? ParseCompletion(attempt.body) : verdict.error;
    if (verdict.error.ok() && !reply.ok()) verdict = {"malformed", false, reply.status()};
    if (metrics_ != nullptr) metrics_->Attempt(verdict.outcome, absl::ToDoubleSeconds(attempt.latency));
    if (reply.ok()) {
      reply->latency = attempt.latency;
      if (metrics_ != nullptr) metrics_->Tokens(reply->usage.prompt_tokens, reply->usage.completion_tokens);
      return reply;
    }
    const std::string message = Redact(absl::StrCat("LLM endpoint ", url_, ": ", verdict.error.message(),
                                                     " (attempt ", attempt_number, " of ", options_.max_attempts, ")"));
    if (!verdict.retry || attempt_number >= options_.max_attempts) {
      return absl::Status(verdict.error.code(), message);
    }
    const absl::Duration wait = Backoff(attempt_number, attempt.retry_after);
    log::Warn("LLM request failed, retrying",
              {{"outcome", verdict.outcome}, {"error", message}, {"backoff", absl::FormatDuration(wait)}});
    for (const absl::Time until = absl::Now() + wait; absl::Now() < until;) {
      if (options_.cancel != nullptr && options_.cancel->load()) return ShuttingDown();
      absl::SleepFor(std::min(until - absl::Now(), absl::Milliseconds(50)));
    }
  }
}

}  // namespace vmle::agent::llm
