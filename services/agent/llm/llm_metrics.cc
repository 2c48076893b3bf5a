#include "services/agent/llm/llm_metrics.h"

namespace vmle::agent::llm {

LlmMetrics::LlmMetrics(prometheus::Registry& registry)
    : requests_(prometheus::BuildCounter()
                    .Name("vmle_agent_llm_requests_total")
                    .Help("Requests to the LLM endpoint (every attempt) by outcome")
                    .Register(registry)),
      latency_(prometheus::BuildHistogram()
                   .Name("vmle_agent_llm_request_seconds")
                   .Help("Latency of requests to the LLM endpoint")
                   .Register(registry)
                   .Add({}, prometheus::Histogram::BucketBoundaries{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120})),
      prompt_tokens_(prometheus::BuildCounter()
                         .Name("vmle_agent_llm_prompt_tokens_total")
                         .Help("Prompt tokens reported by the LLM endpoint")
                         .Register(registry)
                         .Add({})),
      completion_tokens_(prometheus::BuildCounter()
                             .Name("vmle_agent_llm_completion_tokens_total")
                             .Help("Completion tokens reported by the LLM endpoint")
                             .Register(registry)
                             .Add({})) {
  // Every outcome's series exists from the start at 0, so rate() sees the first request.
  for (const char* outcome :
       {"ok", "timeout", "connection_error", "rate_limited", "server_error", "client_error", "malformed", "cancelled"}) {
    requests_.Add({{"outcome", outcome}});
  }
}

void LlmMetrics::Attempt(const std::string& outcome, double seconds) {
  requests_.Add({{"outcome", outcome}}).Increment();
  latency_.Observe(seconds);
}

void LlmMetrics::Tokens(int64_t prompt, int64_t completion) {
  prompt_tokens_.Increment(static_cast<double>(prompt));
  completion_tokens_.Increment(static_cast<double>(completion));
}

}  // namespace vmle::agent::llm
