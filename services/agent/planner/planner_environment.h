// What the process offers planners beyond their spec (metrics registry, shutdown
// flag, the operator's LLM endpoints, the study's id), passed to the planner
// factory and on to the planners that call out.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "services/agent/llm/llm_endpoints.h"

namespace prometheus {
class Registry;
}

namespace vmle::agent {

// What the process offers planners beyond their spec.
struct PlannerEnvironment {
  // Where planners that call out (llm, opro) register their endpoint metrics; null
  // keeps them unexported. Not owned; must outlive the planners.
  prometheus::Registry* registry = nullptr;
  // Set to true when the agent shuts down: calls out in flight (LLM requests) end at
  // once instead of running to their timeout. May be null.
  std::shared_ptr<const std::atomic<bool>> cancel;
  // The operator's LLM endpoints and transcript directory (llm/llm_endpoints.h); null:
  // none. Not owned; must outlive the planners.
  const llm::LlmConfig* llm = nullptr;
  // The study the planner plans ("" when only validating a spec): names its transcript.
  std::string study_id;
};

}  // namespace vmle::agent
