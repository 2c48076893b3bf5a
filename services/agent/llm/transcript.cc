#include "services/agent/llm/transcript.h"

#include <algorithm>
#include <fstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace vmle::agent::llm {
namespace {

using nlohmann::json;

// Characters of each side quoted around the first difference of a replay mismatch.
constexpr size_t kContext = 60;

std::vector<ChatMessage> ReadMessages(const json& request) {
  std::vector<ChatMessage> messages;
  for (const json& m : request.at("messages")) {
    messages.push_back({m.at("role").get<std::string>(), m.at("content").get<std::string>()});
  }
  return messages;
}

absl::StatusOr<ChatReply> ReadOutcome(const json& line) {
  if (line.contains("error")) {
    const json& error = line.at("error");
    return absl::Status(static_cast<absl::StatusCode>(error.at("code").get<int>()),
                        error.at("message").get<std::string>());
  }
  const json& reply = line.at("reply");
  ChatReply out;
  out.text = reply.at("text").get<std::string>();
  out.usage.prompt_tokens = reply.value("prompt_tokens", int64_t{0});
  out.usage.completion_tokens = reply.value("completion_tokens", int64_t{0});
  out.latency = absl::Milliseconds(reply.value("latency_ms", 0.0));
  return out;
}

std::string Around(const std::string& text, size_t at) {
  const size_t from = at > kContext ? at - kContext : 0;
  return absl::StrCat(from > 0 ? "..." : "", text.substr(from, 2 * kContext),
                      from + 2 * kContext < text.size() ? "..." : "");
}

// Why `got` is not the recorded request `want`; empty when they are equal.
std::string Difference(const std::vector<ChatMessage>& want, const std::vector<ChatMessage>& got) {
  for (size_t i = 0; i < want.size() && i < got.size(); ++i) {
    if (want[i].role != got[i].role) {
      return absl::StrCat("message ", i, " has role \"", got[i].role, "\", recorded \"", want[i].role, "\"");
    }
    const std::string& a = want[i].content;
    const std::string& b = got[i].content;
    if (a == b) continue;
    size_t at = 0;
    while (at < a.size() && at < b.size() && a[at] == b[at]) ++at;
    return absl::StrCat("message ", i, " (", got[i].role, ") differs at character ", at, ": recorded \"",
                        Around(a, at), "\", now \"", Around(b, at), "\"");
  }
  if (want.size() != got.size()) {
    return absl::StrCat("the request has ", got.size(), " messages, recorded ", want.size());
  }
  return "";
}

}  // namespace

std::string ExchangeLine(const Exchange& exchange) {
  json line = {{"request", {{"messages", json::array()}}}};
  for (const ChatMessage& m : exchange.messages) {
    line["request"]["messages"].push_back({{"role", m.role}, {"content", m.content}});
  }
  if (exchange.reply.ok()) {
    const ChatReply& r = *exchange.reply;
    line["reply"] = {{"text", r.text},
                     {"prompt_tokens", r.usage.prompt_tokens},
                     {"completion_tokens", r.usage.completion_tokens},
                     {"latency_ms", absl::ToDoubleMilliseconds(r.latency)}};
  } else {
    line["error"] = {{"code", static_cast<int>(exchange.reply.status().code())},
                     {"status", absl::StatusCodeToString(exchange.reply.status().code())},
                     {"message", std::string(exchange.reply.status().message())}};
  }
  return line.dump();
}

absl::StatusOr<Exchange> ParseExchange(const std::string& text) {
  try {
    const json line = json::parse(text);
    Exchange exchange{ReadMessages(line.at("request")), ReadOutcome(line)};
    return exchange;
  } catch (const json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("not a transcript exchange: ", e.what()));
  }
}

absl::StatusOr<std::vector<Exchange>> ReadTranscript(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError("cannot open the LLM transcript " + path);
  return ParseTranscript(in, path);
}

absl::StatusOr<std::vector<Exchange>> ParseTranscript(std::istream& in, const std::string& where) {
  std::vector<Exchange> exchanges;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (line.empty()) continue;
    absl::StatusOr<Exchange> exchange = ParseExchange(line);
    if (!exchange.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ":", number, ": ", exchange.status().message()));
    }
    exchanges.push_back(*std::move(exchange));
  }
  return exchanges;
}

absl::StatusOr<std::unique_ptr<RecordingLlmClient>> RecordingLlmClient::Create(std::unique_ptr<LlmClient> inner,
                                                                              const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "a");
  if (file == nullptr) return absl::InvalidArgumentError("cannot open the LLM transcript " + path + " for writing");
  return std::unique_ptr<RecordingLlmClient>(new RecordingLlmClient(std::move(inner), path, file));
}

RecordingLlmClient::RecordingLlmClient(std::unique_ptr<LlmClient> inner, std::string path, std::FILE* file)
    : inner_(std::move(inner)), path_(std::move(path)), file_(file) {}

RecordingLlmClient::~RecordingLlmClient() {
  absl::MutexLock lock(&mu_);
  std::fclose(file_);
}

absl::StatusOr<ChatReply> RecordingLlmClient::Complete(const std::vector<ChatMessage>& messages) {
  Exchange exchange{messages, inner_->Complete(messages)};
  const std::string line = ExchangeLine(exchange) + "\n";
  absl::MutexLock lock(&mu_);
  if (std::fwrite(line.data(), 1, line.size(), file_) != line.size() || std::fflush(file_) != 0) {
    return absl::InternalError("cannot append to the LLM transcript " + path_);
  }
  return exchange.reply;
}

absl::StatusOr<std::unique_ptr<ReplayLlmClient>> ReplayLlmClient::Open(const std::string& path) {
  absl::StatusOr<std::vector<Exchange>> exchanges = ReadTranscript(path);
  if (!exchanges.ok()) return exchanges.status();
  return std::unique_ptr<ReplayLlmClient>(new ReplayLlmClient(path, *std::move(exchanges)));
}

absl::StatusOr<ChatReply> ReplayLlmClient::Complete(const std::vector<ChatMessage>& messages) {
  absl::MutexLock lock(&mu_);
  if (served_count_ >= exchanges_.size()) {
    return absl::OutOfRangeError(absl::StrCat("the LLM transcript ", path_, " has no exchange ", served_count_ + 1,
                                              " (it holds ", exchanges_.size(), "): the run asked for more"));
  }
  size_t first_unserved = exchanges_.size();
  for (size_t i = 0; i < exchanges_.size(); ++i) {
    if (served_[i]) continue;
    first_unserved = std::min(first_unserved, i);
    if (!Difference(exchanges_[i].messages, messages).empty()) continue;
    served_[i] = true;
    ++served_count_;
    return exchanges_[i].reply;
  }
  return absl::FailedPreconditionError(absl::StrCat("the request does not match exchange ", first_unserved + 1,
                                                    " of the LLM transcript ", path_, " (nor any later one): ",
                                                    Difference(exchanges_[first_unserved].messages, messages)));
}

int ReplayLlmClient::remaining() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(exchanges_.size() - served_count_);
}

}  // namespace vmle::agent::llm
