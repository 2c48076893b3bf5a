#include "tests/agent/fake_llm_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"

namespace vmle::agent::testing {
namespace {

using nlohmann::json;

void Fail(const char* what) {
  std::perror(what);
  std::abort();
}

// Reads the request head and a body of Content-Length bytes; false on a closed or
// broken connection.
bool ReadRequest(int fd, FakeRequest* request) {
  std::string data;
  char buffer[4096];
  size_t head_end = std::string::npos;
  size_t length = 0;
  for (;;) {
    if (head_end != std::string::npos && data.size() >= head_end + 4 + length) break;
    const ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
    if (n <= 0) return false;
    data.append(buffer, static_cast<size_t>(n));
    if (head_end == std::string::npos && (head_end = data.find("\r\n\r\n")) != std::string::npos) {
      for (absl::string_view line : absl::StrSplit(absl::string_view(data).substr(0, head_end), "\r\n")) {
        if (absl::StartsWithIgnoreCase(line, "content-length:")) {
          (void)absl::SimpleAtoi(absl::StripAsciiWhitespace(line.substr(15)), &length);
        } else if (absl::StartsWithIgnoreCase(line, "authorization:")) {
          request->authorization = std::string(absl::StripAsciiWhitespace(line.substr(14)));
        } else if (request->method.empty()) {
          std::vector<std::string> parts = absl::StrSplit(line, ' ');
          request->method = parts[0];
          request->path = parts.size() > 1 ? parts[1] : "";
        }
      }
    }
  }
  request->body = data.substr(head_end + 4, length);
  const json body = json::parse(request->body, nullptr, false);
  if (body.is_object()) {
    request->model = body.value("model", "");
    request->temperature = body.value("temperature", -1.0);
    for (const json& m : body.value("messages", json::array())) {
      request->messages.emplace_back(m.value("role", ""), m.value("content", ""));
    }
  }
  return true;
}

void WriteResponse(int fd, const FakeResponse& response) {
  std::string out = absl::StrCat("HTTP/1.1 ", response.status, " Scripted\r\nContent-Type: application/json\r\n",
                                 "Content-Length: ", response.body.size(), "\r\nConnection: close\r\n");
  for (const auto& [name, value] : response.headers) absl::StrAppend(&out, name, ": ", value, "\r\n");
  absl::StrAppend(&out, "\r\n", response.body);
  size_t sent = 0;
  while (sent < out.size()) {
    const ssize_t n = send(fd, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return;
    sent += static_cast<size_t>(n);
  }
}

}  // namespace

FakeResponse Completion(const std::string& content, int prompt_tokens, int completion_tokens) {
  const json body = {
      {"id", "chatcmpl-fake"},
      {"object", "chat.completion"},
      {"choices", {{{"index", 0}, {"message", {{"role", "assistant"}, {"content", content}}}, {"finish_reason", "stop"}}}},
      {"usage",
       {{"prompt_tokens", prompt_tokens}, {"completion_tokens", completion_tokens},
        {"total_tokens", prompt_tokens + completion_tokens}}}};
  return {200, body.dump(), {}, absl::ZeroDuration()};
}

FakeResponse HttpError(int status, const std::string& message) {
  return {status, json({{"error", {{"message", message}}}}).dump(), {}, absl::ZeroDuration()};
}

FakeResponse Slow(absl::Duration delay) {
  FakeResponse r = Completion("{}");
  r.delay = delay;
  return r;
}

FakeLlmServer::FakeLlmServer(Handler handler) : handler_(std::move(handler)) {
  listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
  if (listen_fd_ < 0) Fail("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) Fail("bind");
  if (listen(listen_fd_, 16) != 0) Fail("listen");
  socklen_t len = sizeof(addr);
  getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { AcceptLoop(); });
}

FakeLlmServer::FakeLlmServer(std::vector<FakeResponse> script)
    : FakeLlmServer([script = std::move(script)](const FakeRequest&, int index) {
        return index < static_cast<int>(script.size()) ? script[index] : HttpError(500, "script exhausted");
      }) {}

FakeLlmServer::~FakeLlmServer() {
  stop_ = true;
  acceptor_.join();
  close(listen_fd_);
  std::vector<std::thread> connections;
  {
    absl::MutexLock lock(&mu_);
    connections.swap(connections_);
  }
  for (std::thread& t : connections) t.join();
}

std::string FakeLlmServer::base_url() const { return absl::StrCat("http://127.0.0.1:", port_, "/v1"); }

llm::LlmConfig FakeLlmServer::Config(const std::string& transcript_dir, absl::Duration timeout,
                                     int max_attempts) const {
  llm::LlmEndpoint endpoint;
  endpoint.name = "fake";
  endpoint.base_url = base_url();
  endpoint.models = {"fake-model", "fake"};
  endpoint.timeout = timeout;
  endpoint.max_attempts = max_attempts;
  llm::LlmConfig config;
  config.endpoints.push_back(endpoint);
  config.transcript_dir = transcript_dir;
  return config;
}

std::vector<FakeRequest> FakeLlmServer::requests() const {
  absl::MutexLock lock(&mu_);
  return requests_;
}

int FakeLlmServer::request_count() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(requests_.size());
}

void FakeLlmServer::AcceptLoop() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (poll(&p, 1, 20) <= 0) continue;
    const int fd = accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) continue;
    absl::MutexLock lock(&mu_);
    connections_.emplace_back([this, fd] { Serve(fd); });
  }
}

void FakeLlmServer::Serve(int fd) {
  FakeRequest request;
  if (ReadRequest(fd, &request)) {
    int index = 0;
    {
      absl::MutexLock lock(&mu_);
      index = static_cast<int>(requests_.size());
      requests_.push_back(request);
    }
    const FakeResponse response = handler_(request, index);
    const absl::Time until = absl::Now() + response.delay;
    while (!stop_ && absl::Now() < until) absl::SleepFor(absl::Milliseconds(5));
    if (!stop_) WriteResponse(fd, response);
  }
  close(fd);
}

}  // namespace vmle::agent::testing
