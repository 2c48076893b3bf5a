// The engineering knowledge of the heuristic planner: conditions on a dataset
// profile, single-parameter moves with their mechanism and risk, and the ordered
// list of priors an experienced recommender-systems engineer tries on a sequential
// model (SASRec/HSTU folklore: Kang & McAuley 2018, Sun et al. 2019, Petrov &
// Macdonald 2023, Zhai et al. 2024, and the usual optimiser lore).
//
// A condition is a conjunction of clauses "<field> <op> <number>" over the numeric
// fields of vmle.v1.DatasetProfile (mean_length, median_length, max_length,
// num_users, num_items, num_interactions, density, popularity_gini,
// top1pct_share), ops <, <=, >, >=, joined by " and ". The empty condition always
// holds. Rules of recalled cognition summaries use the same syntax.
//
// Thread-safe: everything here is immutable or pure.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

#include "common/space/search_space.h"
#include "common/space/value.h"
#include "vmle/v1/common.pb.h"

namespace vmle::agent::heuristic {

// A parsed profile condition.
class ProfileCondition {
 public:
  // nullopt when `text` is not a conjunction of known clauses.
  static std::optional<ProfileCondition> Parse(absl::string_view text);

  // True or false on a known profile; nullopt when the profile is unknown and the
  // condition has clauses.
  std::optional<bool> Holds(const std::optional<vmle::v1::DatasetProfile>& profile) const;

 private:
  struct Clause {
    std::string field;
    std::string op;
    double threshold = 0;
  };
  std::vector<Clause> clauses_;
};

// The sequence-length regime of a profile: "mean_length < 10" (short histories, as
// on Amazon) or "mean_length >= 10".
std::string LengthRegime(const vmle::v1::DatasetProfile& profile);
// The catalogue regime: "num_items > 5000" or "num_items <= 5000".
std::string CatalogueRegime(const vmle::v1::DatasetProfile& profile);

enum class MoveKind {
  kScale,  // multiply a numeric value by `amount`
  kShift,  // add `amount` to a numeric value
  kSet,    // set the value whose text is `value`
};

// One change of one parameter.
struct Move {
  std::string knob;
  MoveKind kind = MoveKind::kSet;
  double amount = 0;
  // kSet: the value set, typed as the parameter (a numeric one is clamped into the
  // study's domain when applied).
  space::Value value;
  // Profile condition under which the prior applies ("" always).
  std::string condition;
  // A parameter that must be switched on (numeric > 0, bool true) in the
  // configuration the move starts from ("" none), e.g. prior_recent_k needs a
  // transition prior.
  std::string needs;
  std::string mechanism;
  std::string risk;

  // "up" or "down" for kScale/kShift (by the sign of the change), the value's text for
  // kSet; a kSet of a numeric parameter is directional only once applied, see
  // DirectionOf in heuristic_moves.h.
  std::string Direction() const;
};

// Whether a numeric parameter is stepped by factors rather than by increments:
// log-scale parameters and integers with a wide range (max >= 8 * min).
bool Multiplicative(const space::ParamSpec& param);

// The priors, in the order they are tried.
const std::vector<Move>& PriorMoves();

// A default-sized move of every parameter of `space` in each direction (numeric
// parameters up and down; every other choice of categorical and bool ones), with a
// generic mechanism, for the search after the priors. Multiplicative parameters step
// by a factor of 2, other integers by 1 and floats by a tenth of their range.
std::vector<Move> GenericMoves(const space::SearchSpace& space);

// The prior (or, failing that, a generic text) explaining why moving `knob` in
// `direction` changes the objective, and what can go wrong.
std::string MechanismOf(absl::string_view knob, absl::string_view direction);
std::string RiskOf(absl::string_view knob, absl::string_view direction);

// "raising dropout", "lowering lr", "setting loss to full_softmax".
std::string ChangePhrase(absl::string_view knob, absl::string_view direction);

}  // namespace vmle::agent::heuristic
