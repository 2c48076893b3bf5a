// The study report (StudyService.GetReport): the best-on-validation trial with its
// test metrics (read here, once, never by a planner), the trajectory with each
// trial's proposal and reflection and the best-so-far curve, the insights and rules
// learned, and the same as Markdown.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "vmle/v1/memory.pb.h"
#include "vmle/v1/study_service.pb.h"

namespace vmle::agent {

struct ReportInputs {
  vmle::v1::Study study;
  // In number order.
  std::vector<vmle::v1::Trial> trials;
  std::vector<vmle::v1::Reflection> reflections;
  vmle::v1::WorkingInsights insights;
  std::optional<vmle::v1::CognitionSummary> cognition;
  std::vector<vmle::v1::CognitionSummary> recalled;
  vmle::v1::SearchSpace space;
};

vmle::v1::StudyReport BuildReport(const ReportInputs& inputs);

// The Markdown rendering of a report (without its `markdown` field).
std::string ReportMarkdown(const vmle::v1::StudyReport& report);

// The id of the cognition summary distilled from a study.
std::string CognitionId(const std::string& study_id);

}  // namespace vmle::agent
