// The LLM client layer against a fake OpenAI-compatible server on loopback:
// requests and replies, retries with backoff on 429/5xx/timeouts/refused
// connections, errors that are not retried, API key handling, metrics, and
// transcripts recorded and replayed.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <thread>

#include "absl/strings/str_cat.h"
#include "prometheus/registry.h"
#include "prometheus/text_serializer.h"
#include "services/agent/llm/http_llm_client.h"
#include "services/agent/llm/transcript.h"
#include "tests/agent/fake_llm_server.h"
#include "tests/util/subprocess.h"

namespace vmle::agent::llm {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using vmle::agent::testing::Completion;
using vmle::agent::testing::FakeLlmServer;
using vmle::agent::testing::HttpError;
using vmle::agent::testing::Slow;

constexpr char kKey[] = "sk-test-secret-0123456789";

HttpLlmClientOptions FastOptions(const FakeLlmServer& server) {
  HttpLlmClientOptions options;
  options.base_url = server.base_url();
  options.model = "fake-model";
  options.temperature = 0.3;
  options.timeout = absl::Milliseconds(300);
  options.api_key = kKey;
  options.max_attempts = 3;
  options.initial_backoff = absl::Milliseconds(40);
  options.max_backoff = absl::Milliseconds(100);
  return options;
}

std::unique_ptr<HttpLlmClient> Client(HttpLlmClientOptions options) {
  auto client = HttpLlmClient::Create(std::move(options));
  EXPECT_TRUE(client.ok()) << client.status();
  return *std::move(client);
}

const std::vector<ChatMessage> kMessages = {{"system", "be brief"}, {"user", "propose a trial"}};

std::string Metrics(prometheus::Registry& registry) {
  return prometheus::TextSerializer().Serialize(registry.Collect());
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(HttpLlmClientTest, SendsChatCompletionAndReadsReply) {
  FakeLlmServer server({Completion("{\"ok\": true}", 120, 30)});
  prometheus::Registry registry;
  HttpLlmClientOptions options = FastOptions(server);
  options.registry = &registry;
  auto client = Client(options);
  absl::StatusOr<ChatReply> reply = client->Complete(kMessages);
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->text, "{\"ok\": true}");
  EXPECT_EQ(reply->usage.prompt_tokens, 120);
  EXPECT_EQ(reply->usage.completion_tokens, 30);
  EXPECT_GT(reply->latency, absl::ZeroDuration());
  ASSERT_EQ(server.request_count(), 1);
  const auto request = server.requests()[0];
  EXPECT_EQ(request.method, "POST");
  EXPECT_EQ(request.path, "/v1/chat/completions");
  EXPECT_EQ(request.authorization, std::string("Bearer ") + kKey);
  EXPECT_EQ(request.model, "fake-model");
  EXPECT_DOUBLE_EQ(request.temperature, 0.3);
  ASSERT_EQ(request.messages.size(), 2u);
  EXPECT_EQ(request.messages[1].second, "propose a trial");
  const std::string metrics = Metrics(registry);
  EXPECT_THAT(metrics, HasSubstr("vmle_agent_llm_requests_total{outcome=\"ok\"} 1"));
  EXPECT_THAT(metrics, HasSubstr("vmle_agent_llm_prompt_tokens_total 120"));
  EXPECT_THAT(metrics, HasSubstr("vmle_agent_llm_completion_tokens_total 30"));
  EXPECT_THAT(metrics, HasSubstr("vmle_agent_llm_request_seconds_count 1"));
}

TEST(HttpLlmClientTest, RetriesRateLimitAndServerErrorsWithBackoff) {
  FakeLlmServer server({HttpError(429, "slow down"), HttpError(500, "overloaded"), Completion("fine")});
  prometheus::Registry registry;
  HttpLlmClientOptions options = FastOptions(server);
  options.registry = &registry;
  auto client = Client(options);
  const absl::Time start = absl::Now();
  absl::StatusOr<ChatReply> reply = client->Complete(kMessages);
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->text, "fine");
  EXPECT_EQ(server.request_count(), 3);
  // Backoff 40 ms, then 80 ms.
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(120));
  const std::string metrics = Metrics(registry);
  EXPECT_THAT(metrics, HasSubstr("vmle_agent_llm_requests_total{outcome=\"rate_limited\"} 1"));
  EXPECT_THAT(metrics, HasSubstr("vmle_agent_llm_requests_total{outcome=\"server_error\"} 1"));
  EXPECT_THAT(metrics, HasSubstr("vmle_agent_llm_requests_total{outcome=\"ok\"} 1"));
}

// The agent shutting down ends a call at once, in flight or between attempts, and it is
// not retried.
TEST(HttpLlmClientTest, CancelEndsACallInFlightOrInBackoffWithoutRetrying) {
  for (const bool in_flight : {true, false}) {
    FakeLlmServer server({in_flight ? Slow(absl::Seconds(3)) : HttpError(500, "busy"), Completion("late")});
    HttpLlmClientOptions options = FastOptions(server);
    options.timeout = absl::Seconds(60);
    options.initial_backoff = absl::Seconds(60);
    options.max_backoff = absl::Seconds(60);
    auto cancel = std::make_shared<std::atomic<bool>>(false);
    options.cancel = cancel;
    auto client = Client(options);
    std::thread stopper([&] {
      absl::SleepFor(absl::Milliseconds(300));
      cancel->store(true);
    });
    absl::StatusOr<ChatReply> reply = client->Complete(kMessages);
    stopper.join();
    EXPECT_TRUE(absl::IsCancelled(reply.status())) << (in_flight ? "in flight: " : "in backoff: ") << reply.status();
    EXPECT_EQ(server.request_count(), 1);
  }
}

TEST(HttpLlmClientTest, RetryAfterLengthensTheWaitUpToTheCap) {
  vmle::agent::testing::FakeResponse limited = HttpError(429);
  limited.headers = {{"Retry-After", "30"}};
  FakeLlmServer server({limited, Completion("fine")});
  auto client = Client(FastOptions(server));
  const absl::Time start = absl::Now();
  ASSERT_TRUE(client->Complete(kMessages).ok());
  const absl::Duration waited = absl::Now() - start;
  EXPECT_GE(waited, absl::Milliseconds(100));  // the cap, not the 40 ms backoff
  EXPECT_LT(waited, absl::Seconds(5));         // nor the 30 s asked for
}

TEST(HttpLlmClientTest, PersistentServerErrorIsUnavailableAfterEveryAttempt) {
  FakeLlmServer server({HttpError(503), HttpError(500), HttpError(502, "bad gateway " + std::string(kKey))});
  auto client = Client(FastOptions(server));
  absl::StatusOr<ChatReply> reply = client->Complete(kMessages);
  EXPECT_TRUE(absl::IsUnavailable(reply.status())) << reply.status();
  EXPECT_THAT(reply.status().message(), HasSubstr("HTTP 502"));
  EXPECT_THAT(reply.status().message(), HasSubstr("attempt 3 of 3"));
  // An endpoint that echoes the key does not get it into the error.
  EXPECT_THAT(reply.status().message(), Not(HasSubstr(kKey)));
  EXPECT_THAT(reply.status().message(), HasSubstr("[redacted]"));
  EXPECT_EQ(server.request_count(), 3);
}

TEST(HttpLlmClientTest, TimeoutIsRetriedThenDeadlineExceeded) {
  {
    FakeLlmServer server({Slow(absl::Seconds(2)), Completion("after a timeout")});
    auto client = Client(FastOptions(server));
    absl::StatusOr<ChatReply> reply = client->Complete(kMessages);
    ASSERT_TRUE(reply.ok()) << reply.status();
    EXPECT_EQ(reply->text, "after a timeout");
    EXPECT_EQ(server.request_count(), 2);
  }
  FakeLlmServer server({Slow(absl::Seconds(2)), Slow(absl::Seconds(2))});
  HttpLlmClientOptions options = FastOptions(server);
  options.max_attempts = 2;
  auto client = Client(options);
  absl::StatusOr<ChatReply> reply = client->Complete(kMessages);
  EXPECT_TRUE(absl::IsDeadlineExceeded(reply.status())) << reply.status();
  EXPECT_EQ(server.request_count(), 2);
}

TEST(HttpLlmClientTest, RefusedConnectionIsUnavailable) {
  std::string url;
  {
    FakeLlmServer gone(std::vector<vmle::agent::testing::FakeResponse>{});
    url = gone.base_url();
  }
  HttpLlmClientOptions options;
  options.base_url = url;
  options.model = "m";
  options.max_attempts = 2;
  options.initial_backoff = absl::Milliseconds(10);
  options.max_backoff = absl::Milliseconds(10);
  auto client = Client(options);
  EXPECT_TRUE(absl::IsUnavailable(client->Complete(kMessages).status()));
}

TEST(HttpLlmClientTest, ClientErrorsAndMalformedAnswersAreNotRetried) {
  FakeLlmServer server({HttpError(401, "bad key"), HttpError(400, "bad request"), Completion("x")});
  auto client = Client(FastOptions(server));
  EXPECT_TRUE(absl::IsUnauthenticated(client->Complete(kMessages).status()));
  absl::Status bad = client->Complete(kMessages).status();
  EXPECT_TRUE(absl::IsInvalidArgument(bad)) << bad;
  EXPECT_THAT(bad.message(), HasSubstr("bad request"));
  EXPECT_EQ(server.request_count(), 2);

  FakeLlmServer garbage([](const auto&, int) { return vmle::agent::testing::FakeResponse{200, "<html>", {}, {}}; });
  auto client2 = Client(FastOptions(garbage));
  EXPECT_TRUE(absl::IsInternal(client2->Complete(kMessages).status()));
  EXPECT_EQ(garbage.request_count(), 1);
}

TEST(HttpLlmClientTest, RejectsIncompleteOptions) {
  HttpLlmClientOptions options;
  EXPECT_TRUE(absl::IsInvalidArgument(HttpLlmClient::Create(options).status()));  // no model
  options.model = "m";
  options.base_url = "";
  EXPECT_TRUE(absl::IsInvalidArgument(HttpLlmClient::Create(options).status()));
}

TEST(ApiKeyTest, FromFileWinsOverEnvironmentAndErrorsNameOnlyTheFile) {
  const std::string dir = vmle::testing::MakeTempDir();
  ::setenv("VMLE_TEST_LLM_KEY", "from-env", 1);
  EXPECT_EQ(*ResolveApiKey("VMLE_TEST_LLM_KEY", ""), "from-env");
  EXPECT_EQ(*ResolveApiKey("VMLE_TEST_LLM_KEY_UNSET", ""), "");
  std::ofstream(dir + "/key") << "  " << kKey << "\n";
  EXPECT_EQ(*ResolveApiKey("VMLE_TEST_LLM_KEY", dir + "/key"), kKey);
  absl::Status missing = ResolveApiKey("", dir + "/missing").status();
  EXPECT_TRUE(absl::IsInvalidArgument(missing));
  EXPECT_THAT(missing.message(), HasSubstr(dir + "/missing"));
  std::ofstream(dir + "/empty") << "\n";
  EXPECT_TRUE(absl::IsInvalidArgument(ResolveApiKey("", dir + "/empty").status()));
}

TEST(TranscriptTest, RecordsExchangesAndErrorsWithoutTheKeyThenReplaysThem) {
  const std::string path = vmle::testing::MakeTempDir() + "/transcript.jsonl";
  FakeLlmServer server({Completion("first", 5, 2), HttpError(400, "nope"), Completion("third")});
  {
    auto recording = RecordingLlmClient::Create(Client(FastOptions(server)), path);
    ASSERT_TRUE(recording.ok()) << recording.status();
    EXPECT_EQ((*recording)->Complete(kMessages)->text, "first");
    EXPECT_TRUE(absl::IsInvalidArgument((*recording)->Complete({{"user", "second"}}).status()));
    EXPECT_EQ((*recording)->Complete({{"user", "third"}})->text, "third");
  }
  const std::string text = ReadFile(path);
  EXPECT_THAT(text, Not(HasSubstr(kKey)));
  EXPECT_THAT(text, Not(HasSubstr("Bearer")));

  auto replay = ReplayLlmClient::Open(path);
  ASSERT_TRUE(replay.ok()) << replay.status();
  absl::StatusOr<ChatReply> first = (*replay)->Complete(kMessages);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->text, "first");
  EXPECT_EQ(first->usage.prompt_tokens, 5);
  absl::Status second = (*replay)->Complete({{"user", "second"}}).status();
  EXPECT_TRUE(absl::IsInvalidArgument(second));
  EXPECT_THAT(second.message(), HasSubstr("nope"));
  EXPECT_EQ((*replay)->Complete({{"user", "third"}})->text, "third");
  EXPECT_EQ((*replay)->remaining(), 0);
  absl::Status exhausted = (*replay)->Complete({{"user", "fourth"}}).status();
  EXPECT_TRUE(absl::IsOutOfRange(exhausted)) << exhausted;
  EXPECT_THAT(exhausted.message(), HasSubstr("no exchange 4"));
}

TEST(TranscriptTest, ReplayRefusesARequestThatDiffersFromTheRecording) {
  const std::string path = vmle::testing::MakeTempDir() + "/t.jsonl";
  std::ofstream(path) << ExchangeLine({kMessages, ChatReply{"r", {}, absl::ZeroDuration()}}) << "\n";
  auto replay = ReplayLlmClient::Open(path);
  ASSERT_TRUE(replay.ok());
  absl::Status diff = (*replay)->Complete({{"system", "be brief"}, {"user", "propose two trials"}}).status();
  EXPECT_TRUE(absl::IsFailedPrecondition(diff)) << diff;
  EXPECT_THAT(diff.message(), HasSubstr("exchange 1"));
  EXPECT_THAT(diff.message(), HasSubstr("message 1 (user) differs at character 8"));
  // A refused request does not consume the exchange.
  EXPECT_EQ((*replay)->Complete(kMessages)->text, "r");
}

TEST(TranscriptTest, ReplaySkipsExchangesARestartedRunDoesNotAskForAgain) {
  const std::string path = vmle::testing::MakeTempDir() + "/t.jsonl";
  const std::vector<ChatMessage> round1 = {{"user", "round 1"}}, round2 = {{"user", "round 2"}},
                                 round3 = {{"user", "round 3"}};
  std::ofstream(path) << ExchangeLine({round1, ChatReply{"one", {}, absl::ZeroDuration()}}) << "\n"
                      << ExchangeLine({round2, ChatReply{"two", {}, absl::ZeroDuration()}}) << "\n"
                      << ExchangeLine({round3, ChatReply{"three", {}, absl::ZeroDuration()}}) << "\n";
  auto replay = ReplayLlmClient::Open(path);
  ASSERT_TRUE(replay.ok());
  // An agent restarted after round 2 asks for round 3 first.
  EXPECT_EQ((*replay)->Complete(round3)->text, "three");
  EXPECT_EQ((*replay)->remaining(), 2);
  // An exchange is served once.
  absl::Status again = (*replay)->Complete(round3).status();
  EXPECT_TRUE(absl::IsFailedPrecondition(again)) << again;
  EXPECT_THAT(again.message(), HasSubstr("exchange 1"));
  EXPECT_EQ((*replay)->Complete(round1)->text, "one");
  EXPECT_EQ((*replay)->Complete(round2)->text, "two");
  EXPECT_TRUE(absl::IsOutOfRange((*replay)->Complete(round1).status()));
}

TEST(TranscriptTest, MalformedTranscriptNamesTheLine) {
  const std::string path = vmle::testing::MakeTempDir() + "/t.jsonl";
  std::ofstream(path) << ExchangeLine({kMessages, ChatReply{"r", {}, absl::ZeroDuration()}}) << "\n{\"request\": 1}\n";
  absl::Status status = ReplayLlmClient::Open(path).status();
  EXPECT_TRUE(absl::IsInvalidArgument(status));
  EXPECT_THAT(status.message(), HasSubstr(path + ":2"));
  EXPECT_TRUE(absl::IsNotFound(ReplayLlmClient::Open(path + ".missing").status()));
}

}  // namespace
}  // namespace vmle::agent::llm
