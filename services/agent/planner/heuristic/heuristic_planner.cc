#include "services/agent/planner/heuristic/heuristic_planner.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_format.h"
#include "common/space/space_proto.h"
#include "services/agent/planner/classical/random_planner.h"
#include "services/agent/planner/heuristic/heuristic_knowledge.h"
#include "services/agent/planner/heuristic/heuristic_memory.h"
#include "services/agent/planner/heuristic/heuristic_moves.h"
#include "services/agent/planner/heuristic/heuristic_trajectory.h"
#include "services/agent/planner/planner_options.h"
#include "services/agent/planner/planning_round.h"

namespace vmle::agent {
namespace {

using heuristic::Move;
using heuristic::Trajectory;
using KnobDirection = std::pair<std::string, std::string>;

constexpr uint64_t kHeuristicStream = 0x68657572;  // "heur"

// One candidate of a round: a move from the best configuration, or a whole
// configuration (the transfer).
struct Candidate {
  std::string kind;
  Move move;
  std::optional<vmle::v1::Configuration> config;
  std::string source;
};

// What Propose knows about the study at the start of a round.
struct RoundState {
  const PlanningContext* context = nullptr;
  const Trajectory* trajectory = nullptr;
  int best = -1;
  vmle::v1::Configuration from;
  absl::flat_hash_set<KnobDirection> failed;
  absl::flat_hash_set<std::string> changed_knobs;
  // Trial 1 when it is the baseline (pending, or proposed in this round); 0 otherwise.
  int baseline_number = 0;
};

RoundState StateOf(const PlanningContext& context, const Trajectory& trajectory) {
  RoundState s;
  s.context = &context;
  s.trajectory = &trajectory;
  s.best = trajectory.Best();
  s.from = s.best >= 0 ? trajectory.history()[static_cast<size_t>(s.best)].config()
                       : DefaultConfiguration(trajectory.space());
  for (const heuristic::Step& step : trajectory.steps()) {
    s.changed_knobs.insert(step.knob);
    if (trajectory.ClearlyHurt(step) && step.parent >= 0) s.failed.insert({step.knob, step.direction});
  }
  for (const vmle::v1::Trial& t : context.pending) s.changed_knobs.insert(t.proposal().changed_dimension());
  for (const KnobDirection& f : heuristic::TransferredFailures(context.recalled)) s.failed.insert(f);
  return s;
}

// Whether the last `window` one-change trials touched at most two parameters.
bool CoverageDue(const Trajectory& trajectory, int window) {
  std::vector<std::string> knobs;
  for (auto it = trajectory.steps().rbegin(); it != trajectory.steps().rend(); ++it) {
    if (it->parent >= 0) knobs.push_back(it->knob);
    if (static_cast<int>(knobs.size()) == window) break;
  }
  if (static_cast<int>(knobs.size()) < window) return false;
  std::sort(knobs.begin(), knobs.end());
  return std::unique(knobs.begin(), knobs.end()) - knobs.begin() <= 2;
}

// Priors are advice about the reference configuration: once a knob is off its
// default (by an earlier change or a transfer), line search and refinement take over.
bool AtDefault(const space::SearchSpace& space, const vmle::v1::Configuration& config, const std::string& knob) {
  const space::ParamSpec* p = space.Find(knob);
  return p != nullptr && space::SameValue(ValueOf(*p, config), DefaultValue(*p));
}

// Candidates 3-7 of the protocol (heuristic_planner.h).
std::vector<Candidate> MoveCandidates(const RoundState& s) {
  const PlanningContext& context = *s.context;
  const space::SearchSpace& space = s.trajectory->space();
  std::vector<Candidate> fresh, deferred, waiting;
  auto add = [&](std::vector<Candidate>& to, std::string kind, Move move, std::string source) {
    const bool hurt = s.failed.contains(KnobDirection{move.knob, move.Direction()});
    (hurt ? deferred : to).push_back({std::move(kind), std::move(move), std::nullopt, std::move(source)});
  };
  for (heuristic::TransferredMove& t : heuristic::TransferredMoves(space, context.recalled, context.profile, s.from)) {
    add(t.holds ? fresh : waiting, "transferred rule", std::move(t.move), t.source);
  }
  std::move(waiting.begin(), waiting.end(), std::back_inserter(fresh));
  waiting.clear();
  for (const Move& m : heuristic::PriorMoves()) {
    if (!AtDefault(space, s.from, m.knob)) continue;
    std::optional<heuristic::ProfileCondition> condition = heuristic::ProfileCondition::Parse(m.condition);
    const std::optional<bool> holds = condition->Holds(context.profile);
    if (holds.has_value() && !*holds) continue;
    add(holds.has_value() ? fresh : waiting, "prior", m, "");
  }
  std::move(waiting.begin(), waiting.end(), std::back_inserter(fresh));
  for (Move& m : heuristic::Refinements(*s.trajectory)) add(fresh, "refinement", std::move(m), "");
  for (Move& m : heuristic::GenericMoves(space)) add(fresh, "exploration", std::move(m), "");
  std::move(deferred.begin(), deferred.end(), std::back_inserter(fresh));
  return fresh;
}

std::vector<Candidate> Candidates(const RoundState& s, const HeuristicOptions& options) {
  std::vector<Candidate> out;
  if (options.transfer_best) {
    if (auto transfer = heuristic::TransferredConfiguration(s.trajectory->space(), s.context->recalled,
                                                            s.context->spec.backbone());
        transfer.has_value()) {
      out.push_back({"transfer", Move{}, std::move(transfer->first), transfer->second});
    }
  }
  std::vector<Candidate> moves;
  if (s.best >= 0) {
    if (std::optional<Move> line = heuristic::Continuation(*s.trajectory, s.best); line.has_value()) {
      moves.push_back({"line search", *std::move(line), std::nullopt, ""});
    }
    if (std::optional<Move> epochs = heuristic::EpochBudget(*s.trajectory, s.best); epochs.has_value()) {
      moves.push_back({"observation", *std::move(epochs), std::nullopt, ""});
    }
  }
  std::vector<Candidate> rest = MoveCandidates(s);
  std::move(rest.begin(), rest.end(), std::back_inserter(moves));
  if (CoverageDue(*s.trajectory, options.coverage_window)) {
    std::stable_partition(moves.begin(), moves.end(), [&](const Candidate& c) {
      return !s.changed_knobs.contains(c.move.knob);
    });
    for (Candidate& c : moves) {
      if (!s.changed_knobs.contains(c.move.knob)) c.kind = "coverage rule, " + c.kind;
    }
  }
  std::move(moves.begin(), moves.end(), std::back_inserter(out));
  return out;
}

// The reference the proposals of a round start from, for their texts: the trial they
// are derived from and its measured mean.
std::string BestText(const RoundState& s) {
  if (s.best < 0) return "the baseline";
  return "the best configuration, " + s.trajectory->Describe(s.best);
}

// The seed plan of a change of the best: derived from its first trial and paired with
// it; while nothing has finished, from the baseline (trial 1, the default
// configuration, queued before this change).
void PairWithBest(const RoundState& s, vmle::v1::Proposal& p) {
  const int number =
      s.best >= 0 ? s.trajectory->history()[static_cast<size_t>(s.best)].number() : s.baseline_number;
  if (number <= 0) return;
  p.set_derived_from(number);
  p.set_seed_from(number);
}

// Replicate trials of the study so far (finished and pending), and its budget of them.
int ReplicatesUsed(const PlanningContext& context) {
  int used = 0;
  for (const auto* trials : {&context.history, &context.pending}) {
    for (const vmle::v1::Trial& t : *trials) used += t.proposal().replicate_of() > 0;
  }
  return used;
}

// The history index of the baseline, trial 1, the study's first proposal; -1 while
// it is still queued or running (another trial that finished first is not
// replicated in its place). When it failed, the first trial that finished.
int BaselineIndex(const PlanningContext& context, const Trajectory& t) {
  for (size_t i = 0; i < t.history().size(); ++i) {
    if (t.history()[i].number() == 1) return static_cast<int>(i);
  }
  for (const vmle::v1::Trial& p : context.pending) {
    if (p.number() == 1) return -1;
  }
  return t.history().empty() ? -1 : 0;
}

// The replicates of this round (protocol, heuristic_planner.h), before any change.
void AddReplicates(const RoundState& s, bool transfer_due, PlanningRound& round,
                   std::vector<vmle::v1::Proposal>& proposals) {
  const PlanningContext& context = *s.context;
  const Trajectory& t = *s.trajectory;
  int left = evidence::ReplicateBudget(context.spec.budget()) - ReplicatesUsed(context);
  auto pending_replicate_of = [&](int number) {
    for (const vmle::v1::Trial& p : context.pending) {
      if (p.proposal().replicate_of() == number) return true;
    }
    return false;
  };
  auto add = [&](int index, int seed_from, std::string why) {
    const vmle::v1::Trial& of = t.history()[static_cast<size_t>(index)];
    vmle::v1::Proposal p;
    p.set_planner("heuristic");
    p.set_changed_dimension("replicate");
    p.set_replicate_of(of.number());
    p.set_derived_from(of.number());
    p.set_seed_from(seed_from);
    p.set_hypothesis(absl::StrFormat("replicate of trial %d %s: %s", of.number(),
                                     seed_from > 0 ? absl::StrFormat("on the seed of trial %d", seed_from)
                                                   : std::string("on a new seed"),
                                     why));
    p.set_expected_mechanism("the same configuration on another seed measures the seed noise and the "
                             "configuration's mean, so that a gain is judged against the noise");
    p.set_risk("none beyond its cost: one trial of the budget");
    p.set_rollback("nothing changes; the evidence is read again with this run");
    proposals.push_back(p);
    round.AddReplicate(of.config(), p.hypothesis());
    --left;
  };
  if (left <= 0 || round.full() || t.history().empty()) return;
  // The baseline on a second seed, once it has finished: the study's first noise measurement.
  // (After a transferred configuration, which comes right after the baseline.)
  const int baseline = BaselineIndex(context, t);
  if (ReplicatesUsed(context) == 0 && baseline >= 0 && std::isfinite(t.Score(baseline)) && !transfer_due) {
    add(baseline, 0, "the baseline on at least two seeds measures the seed noise of this study");
  }
  if (left <= 0 || round.full()) return;
  std::optional<evidence::ReplicateRequest> next = t.evidence().NextReplicate();
  if (!next.has_value() || pending_replicate_of(next->replicate_of)) return;
  for (size_t i = 0; i < t.history().size(); ++i) {
    if (t.history()[i].number() == next->replicate_of) {
      add(static_cast<int>(i), next->seed_from, "a gain inside the noise must be confirmed on another seed before " +
                                                    std::string("it becomes the best: ") + next->reason);
      return;
    }
  }
}

vmle::v1::Proposal ProposalFor(const RoundState& s, const Candidate& c, double tie_epsilon) {
  vmle::v1::Proposal p;
  p.set_planner("heuristic");
  if (!c.config.has_value()) PairWithBest(s, p);
  const std::string best = BestText(s);
  p.set_rollback(absl::StrFormat("keep %s unless this beats it by more than %.2g%% on validation", best,
                                 100 * tie_epsilon));
  if (c.config.has_value()) {
    p.set_changed_dimension("transfer");
    p.set_hypothesis("transfer: the best configuration of cognition summary " + c.source +
                     ", learned on the nearest dataset, starts this study close to its optimum");
    p.set_expected_mechanism("datasets with similar profiles share their good regions of the search space");
    p.set_risk("the optimum of this dataset may differ; the one-change search continues from the better of both");
    return p;
  }
  const std::string change = heuristic::ChangePhrase(c.move.knob, c.move.Direction());
  p.set_changed_dimension(c.move.knob);
  p.set_hypothesis(absl::StrFormat("%s: %s from %s improves the objective%s", c.kind, change, best,
                                   c.source.empty() ? "" : " (rule of " + c.source + ")"));
  p.set_expected_mechanism(c.move.mechanism);
  p.set_risk(c.move.risk);
  return p;
}

// Random single-parameter changes of the best configuration, when the candidates are
// all taken.
void AddRandomChanges(const RoundState& s, PlanningRound& round, std::vector<vmle::v1::Proposal>& proposals,
                      double tie_epsilon) {
  const space::SearchSpace& space = round.space();
  while (!round.full()) {
    Rng rng(DeriveSeed(s.context->seed ^ kHeuristicStream, static_cast<uint64_t>(round.proposed())));
    std::string knob;
    std::optional<vmle::v1::Configuration> config = DrawAdmitted(round, kMaxDraws, [&] {
      const space::ParamSpec& p = space.params[static_cast<size_t>(rng.Below(space.params.size()))];
      knob = p.name;
      vmle::v1::Configuration c = s.from;
      (*c.mutable_values())[p.name] = SampleValue(p, rng);
      return c;
    });
    if (!config.has_value()) return;
    Candidate c{"random change", Move{}, std::nullopt, ""};
    c.move.knob = knob;
    // A label only: this candidate carries its configuration.
    c.move.value = space::Value::Text("a random value");
    c.move.mechanism = "every prior and step was tried; a random value of " + knob + " probes what is left";
    c.move.risk = "an arbitrary value";
    proposals.push_back(ProposalFor(s, c, tie_epsilon));
    round.Add(*std::move(config), proposals.back().hypothesis());
  }
}

}  // namespace

absl::StatusOr<HeuristicOptions> ParseHeuristicOptions(const vmle::v1::PlannerSpec& spec) {
  HeuristicOptions o;
  OptionReader r(spec);
  for (absl::Status s : {r.Double("tie_epsilon", 0.0, 0.5, false, &o.tie_epsilon),
                         r.Int("coverage_window", 2, 50, &o.coverage_window), r.Bool("transfer_best", &o.transfer_best),
                         r.Int("max_insights", 1, 100, &o.max_insights),
                         r.Double("noise_prior", 0.0, 1.0, false, &o.noise_prior),
                         r.Int("max_seeds", 1, 10, &o.max_seeds), r.NoOthers()}) {
    if (!s.ok()) return s;
  }
  return o;
}

absl::StatusOr<std::vector<PlannedTrial>> HeuristicPlanner::Propose(const PlanningContext& context) {
  PlanningRound round = PlanningRound::Start(context, Name());
  const Trajectory trajectory =
      Trajectory::Read(context, options_.tie_epsilon,
                       heuristic::StudyEvidenceOptions(context, options_.noise_prior, options_.max_seeds));
  RoundState state = StateOf(context, trajectory);
  const std::string default_key = ConfigKey(round.space(), DefaultConfiguration(round.space()));
  for (const vmle::v1::Trial& t : context.pending) {
    if (t.number() == 1 && ConfigKey(round.space(), t.config()) == default_key) state.baseline_number = 1;
  }
  if (round.proposed_before() == 0) state.baseline_number = 1;  // proposed below, as trial 1
  std::vector<vmle::v1::Proposal> proposals;
  bool transfer_tried = false;
  for (const auto* trials : {&context.history, &context.pending}) {
    for (const vmle::v1::Trial& t : *trials) transfer_tried = transfer_tried || t.proposal().changed_dimension() == "transfer";
  }
  const bool transfer_due = options_.transfer_best && !transfer_tried &&
                            heuristic::TransferredConfiguration(trajectory.space(), context.recalled,
                                                                context.spec.backbone())
                                .has_value();
  AddReplicates(state, transfer_due, round, proposals);
  if (round.proposed_before() == 0 && !round.full()) {
    if (auto config = round.Admit(DefaultConfiguration(round.space())); config.has_value()) {
      vmle::v1::Proposal p;
      p.set_planner(Name());
      p.set_hypothesis("baseline: the default configuration, the reference every later change is measured against");
      p.set_expected_mechanism("the backbone's reference configuration trains reliably");
      p.set_risk("none: it is the reference");
      p.set_rollback("nothing to roll back to; it becomes the first best");
      proposals.push_back(p);
      round.Add(*std::move(config), p.hypothesis());
    }
  }
  for (const Candidate& c : Candidates(state, options_)) {
    if (round.full()) break;
    std::optional<vmle::v1::Configuration> config =
        c.config.has_value() ? c.config : heuristic::ApplyMove(round.space(), state.from, c.move);
    if (!config.has_value()) continue;
    std::optional<vmle::v1::Configuration> admitted = round.Admit(*config);
    if (!admitted.has_value()) continue;
    proposals.push_back(ProposalFor(state, c, options_.tie_epsilon));
    round.Add(*std::move(admitted), proposals.back().hypothesis());
  }
  AddRandomChanges(state, round, proposals, options_.tie_epsilon);
  std::vector<PlannedTrial> trials = round.Take();
  for (size_t i = 0; i < trials.size(); ++i) trials[i].proposal = proposals[i];
  return trials;
}

absl::StatusOr<std::optional<vmle::v1::Reflection>> HeuristicPlanner::Reflect(const PlanningContext& context,
                                                                              const vmle::v1::Trial& finished) {
  absl::StatusOr<vmle::v1::Reflection> r = HeuristicReflection(context, finished, MemoryOptions());
  if (!r.ok()) return r.status();
  return std::optional<vmle::v1::Reflection>(*std::move(r));
}

absl::StatusOr<std::optional<vmle::v1::WorkingInsights>> HeuristicPlanner::Consolidate(
    const PlanningContext& context) {
  absl::StatusOr<vmle::v1::WorkingInsights> w = HeuristicInsights(context, MemoryOptions());
  if (!w.ok()) return w.status();
  return std::optional<vmle::v1::WorkingInsights>(*std::move(w));
}

absl::StatusOr<std::optional<vmle::v1::CognitionSummary>> HeuristicPlanner::Distill(const PlanningContext& context) {
  absl::StatusOr<vmle::v1::CognitionSummary> s = HeuristicSummary(context, MemoryOptions());
  if (absl::IsFailedPrecondition(s.status())) return std::optional<vmle::v1::CognitionSummary>();
  if (!s.ok()) return s.status();
  return std::optional<vmle::v1::CognitionSummary>(*std::move(s));
}

HeuristicMemoryOptions HeuristicPlanner::MemoryOptions() const {
  return HeuristicMemoryOptions{options_.tie_epsilon, options_.max_insights, options_.noise_prior, options_.max_seeds};
}


}  // namespace vmle::agent
