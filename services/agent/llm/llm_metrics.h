// Prometheus metrics of the LLM endpoint an agent talks to (vmle_agent_llm_*):
//   vmle_agent_llm_requests_total{outcome}  HTTP attempts by outcome: "ok", "timeout",
//       "connection_error", "rate_limited" (429), "server_error" (5xx),
//       "client_error" (other 4xx), "malformed" (not a chat completion);
//   vmle_agent_llm_request_seconds           latency of every attempt;
//   vmle_agent_llm_prompt_tokens_total, vmle_agent_llm_completion_tokens_total.
// Thread-safe (prometheus-cpp metrics are).
#pragma once

#include <string>

#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace vmle::agent::llm {

class LlmMetrics {
 public:
  // Registers the families in `registry`, which must outlive this object. Several
  // LlmMetrics on one registry share the families.
  explicit LlmMetrics(prometheus::Registry& registry);

  void Attempt(const std::string& outcome, double seconds);
  void Tokens(int64_t prompt, int64_t completion);

 private:
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Histogram& latency_;
  prometheus::Counter& prompt_tokens_;
  prometheus::Counter& completion_tokens_;
};

}  // namespace vmle::agent::llm
