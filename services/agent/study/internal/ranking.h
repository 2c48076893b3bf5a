// A study's counters, best and noise as trials change: what the StudyLedger stores in
// the Study record with each commit.
#pragma once

#include <vector>

#include "absl/types/span.h"
#include "services/agent/evidence/evidence.h"
#include "services/agent/study/internal/study_entry.h"
#include "vmle/v1/study.pb.h"

namespace vmle::agent::internal {

// Updates the counters of `study` for the `changed` trials (of distinct numbers), each
// replacing the entry's stored trial of the same number (or joining the study), and,
// when one of them is finished, the noise and the best by evidence
// (evidence/evidence.h) over the trials that ran, all the changed ones included: the
// incumbent by intensification while the study replicates (its planner is the
// heuristic, or a trial is a replicate) and its replicate budget is not spent, else the
// configuration with the best mean. best_value is that configuration's mean, best_runs
// its runs, best_trial_id its first.
void Recount(const StudyEntry& entry, absl::Span<const vmle::v1::Trial> changed, vmle::v1::Study& study);

// The trials of `trials` that ran to an end (finished with at least one attempt), in
// number order, and the evidence options Recount ranks them with.
std::vector<vmle::v1::Trial> RanTrials(const std::vector<vmle::v1::Trial>& trials);
evidence::Options RankingOptions(const vmle::v1::Study& study, const std::vector<vmle::v1::Trial>& ran);
evidence::Options RankingOptions(const vmle::v1::Study& study, const std::vector<const vmle::v1::Trial*>& ran);

}  // namespace vmle::agent::internal
