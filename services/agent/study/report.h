// The study report (StudyService.GetReport): the best configuration by the evidence
// (internal/ranking.h) with its validation and test metrics as mean ± sd over the
// seeds it ran on (test metrics are read here, once, never by a planner), the study's
// seed noise, the trajectory with each trial's proposal, seed plan and reflection and
// the best-so-far curve by mean, the insights and the rules learned with their
// intervals, and the same as Markdown.
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

// A proposal's seed plan: "paired with t3", "replicate of t1, new seed", "new".
std::string SeedPlanText(const vmle::v1::Proposal& proposal);

// The id of the cognition summary distilled from a study.
std::string CognitionId(const std::string& study_id);

}  // namespace vmle::agent
