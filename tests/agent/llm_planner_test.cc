// The llm and opro planners against a fake OpenAI-compatible server on loopback:
// what the prompts carry and never carry, well-formed replies, malformed JSON,
// out-of-space and repeated configurations (re-asked with the error), endpoint
// failures and timeouts (fallback recorded in the proposal), reflection and
// distillation, the API key kept out of transcripts and logs, and option validation.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "services/agent/llm/http_llm_client.h"
#include "services/agent/planner/llm/llm_planner.h"
#include "services/agent/planner/planner_factory.h"
#include "services/agent/planner/space_sampling.h"
#include "tests/agent/fake_llm_server.h"
#include "tests/agent/planning_loop.h"
#include "tests/util/subprocess.h"

namespace vmle::agent {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::Completion;
using testing::FakeLlmServer;
using testing::FakeRequest;
using testing::HttpError;
using testing::Slow;

constexpr char kGood[] =
    R"({"proposals": [{"hypothesis": "more dropout regularises", "changed_dimension": "dropout", )"
    R"("expected_mechanism": "less co-adaptation", "risk": "underfitting", "rollback": "dropout 0.2", )"
    R"("configuration": {"dropout": 0.35}}]})";

std::string Proposal(const std::string& config) { return R"({"proposals": [{"configuration": )" + config + "}]}"; }

// The operator configuration Make builds planners in: the last server Spec named.
llm::LlmConfig& Configured() {
  static auto* config = new llm::LlmConfig();
  return *config;
}

vmle::v1::PlannerSpec Spec(const std::string& name, const FakeLlmServer& server) {
  Configured() = server.Config();
  vmle::v1::PlannerSpec spec;
  spec.set_name(name);
  (*spec.mutable_options())["model"] = "fake-model";
  return spec;
}

PlannerEnvironment Environment(const llm::LlmConfig& config, const std::string& study_id = "") {
  PlannerEnvironment environment;
  environment.llm = &config;
  environment.study_id = study_id;
  return environment;
}

std::unique_ptr<Planner> Make(const vmle::v1::PlannerSpec& spec) {
  absl::StatusOr<std::unique_ptr<Planner>> planner = MakePlanner(spec, Environment(Configured()));
  EXPECT_TRUE(planner.ok()) << planner.status();
  return planner.ok() ? *std::move(planner) : nullptr;
}

// An llm planner whose client retries fast (the factory's backoff is for real use).
std::unique_ptr<Planner> FastLlmPlanner(const FakeLlmServer& server, int max_repairs) {
  llm::HttpLlmClientOptions options;
  options.base_url = server.base_url();
  options.model = "fake-model";
  options.timeout = absl::Milliseconds(300);
  options.max_attempts = 3;
  options.initial_backoff = absl::Milliseconds(20);
  options.max_backoff = absl::Milliseconds(50);
  vmle::v1::PlannerSpec fallback;
  fallback.set_name(kLlmFallbackPlanner);
  return std::make_unique<LlmPlanner>(
      LlmPlannerParts{*llm::HttpLlmClient::Create(options), *MakePlanner(fallback), max_repairs});
}

// A context with one finished baseline trial and everything a prompt may show.
PlanningContext RichContext() {
  PlanningContext context = testing::SasrecContext(3);
  context.spec.mutable_budget()->set_max_trials(10);
  vmle::v1::Trial baseline;
  baseline.set_number(1);
  *baseline.mutable_config() = DefaultConfiguration(context.space);
  baseline.set_status(vmle::v1::TRIAL_STATUS_SUCCEEDED);
  baseline.set_objective_value(0.0521);
  baseline.mutable_test()->set_ndcg_at_10(0.987654);  // must never reach a prompt
  context.history.push_back(baseline);
  vmle::v1::DatasetProfile profile;
  profile.set_num_users(22363);
  profile.set_mean_length(8.88);
  context.profile = profile;
  vmle::v1::Reflection r;
  r.set_trial_number(1);
  r.set_observation("baseline reached 0.0521");
  r.set_generalized_rule("start from the defaults");
  context.reflections.push_back(r);
  context.insights.add_insights()->set_text("short histories favour tied embeddings");
  vmle::v1::CognitionSummary summary;
  summary.set_dataset_name("ml-1m");
  summary.set_prose("priors from the last item help on short sequences");
  context.recalled.push_back(summary);
  return context;
}

// The llm planner's proposals when the rich context wants two, from `server`.
std::vector<PlannedTrial> ProposeTwo(const FakeLlmServer& server) {
  PlanningContext context = RichContext();
  context.max_proposals = 2;
  absl::StatusOr<std::vector<PlannedTrial>> planned = Make(Spec("llm", server))->Propose(context);
  EXPECT_TRUE(planned.ok()) << planned.status();
  return planned.ok() ? *std::move(planned) : std::vector<PlannedTrial>{};
}

std::string UserPrompt(const FakeRequest& request) {
  for (const auto& [role, content] : request.messages) {
    if (role == "user") return content;
  }
  return "";
}

TEST(LlmPlannerTest, WellFormedReplyBecomesAProposalAndThePromptCarriesTheContext) {
  FakeLlmServer server({Completion(kGood)});
  auto planner = Make(Spec("llm", server));
  absl::StatusOr<std::vector<PlannedTrial>> planned = planner->Propose(RichContext());
  ASSERT_TRUE(planned.ok()) << planned.status();
  ASSERT_EQ(planned->size(), 1u);
  const PlannedTrial& t = (*planned)[0];
  EXPECT_DOUBLE_EQ(t.config.values().at("dropout").float_value(), 0.35);
  EXPECT_EQ(t.config.values().at("hidden_dim").int_value(), RichContext().history[0].config().values().at("hidden_dim").int_value());
  EXPECT_EQ(t.proposal.planner(), "llm");
  EXPECT_FALSE(t.proposal.fallback());
  EXPECT_EQ(t.proposal.hypothesis(), "more dropout regularises");
  EXPECT_EQ(t.proposal.changed_dimension(), "dropout");
  EXPECT_EQ(t.proposal.expected_mechanism(), "less co-adaptation");
  EXPECT_EQ(t.proposal.risk(), "underfitting");
  EXPECT_EQ(t.proposal.rollback(), "dropout 0.2");

  const std::string prompt = UserPrompt(server.requests()[0]);
  for (const char* part : {"users 22363", "mean length 8.88", "dropout: float in [0, 0.9]",
                           "higher regularises small data", "only when loss = sampled_softmax", "0.0521",
                           "baseline reached 0.0521", "short histories favour tied embeddings",
                           "priors from the last item help", "val NDCG@10 (maximise)", "\"proposals\""}) {
    EXPECT_THAT(prompt, HasSubstr(part));
  }
  EXPECT_THAT(prompt, Not(HasSubstr("0.987654")));
}

TEST(LlmPlannerTest, MemoryOffLeavesReflectionsInsightsAndSummariesOut) {
  FakeLlmServer server({Completion(kGood)});
  PlanningContext context = RichContext();
  context.reflections.clear();
  context.insights.Clear();
  context.recalled.clear();
  ASSERT_TRUE(Make(Spec("llm", server))->Propose(context).ok());
  const std::string prompt = UserPrompt(server.requests()[0]);
  EXPECT_THAT(prompt, Not(HasSubstr("Reflections")));
  EXPECT_THAT(prompt, Not(HasSubstr("Working insights")));
  EXPECT_THAT(prompt, Not(HasSubstr("Knowledge from")));
}

TEST(LlmPlannerTest, MalformedJsonIsReaskedWithTheError) {
  FakeLlmServer server({Completion("Sure! I would raise the dropout."), Completion("```json\n" + std::string(kGood) + "\n```")});
  absl::StatusOr<std::vector<PlannedTrial>> planned = Make(Spec("llm", server))->Propose(RichContext());
  ASSERT_TRUE(planned.ok()) << planned.status();
  ASSERT_EQ(planned->size(), 1u);
  EXPECT_FALSE((*planned)[0].proposal.fallback());
  ASSERT_EQ(server.request_count(), 2);
  const std::vector<FakeRequest> requests = server.requests();
  const auto& repair = requests[1].messages;
  ASSERT_EQ(repair.size(), 4u);
  EXPECT_EQ(repair[2], std::make_pair(std::string("assistant"), std::string("Sure! I would raise the dropout.")));
  EXPECT_EQ(repair[3].first, "user");
  EXPECT_THAT(repair[3].second, HasSubstr("could not be used: the reply holds no JSON object"));
}

TEST(LlmPlannerTest, OutOfSpaceOutputFallsBackAfterMaxRepairsAndRecordsWhy) {
  FakeLlmServer server({Completion(Proposal(R"({"lr": 0.5})")),
                        Completion(Proposal(R"({"hidden_dim": 64, "num_heads": 3})")),
                        Completion(Proposal(R"({"warmup_steps": 100})")), Completion(kGood)});
  absl::StatusOr<std::vector<PlannedTrial>> planned = Make(Spec("llm", server))->Propose(RichContext());
  ASSERT_TRUE(planned.ok()) << planned.status();
  ASSERT_EQ(planned->size(), 1u);
  const vmle::v1::Proposal& p = (*planned)[0].proposal;
  EXPECT_TRUE(p.fallback());
  EXPECT_EQ(p.planner(), kLlmFallbackPlanner);
  EXPECT_THAT(p.fallback_reason(), HasSubstr("unusable after 3 attempts"));
  EXPECT_THAT(p.fallback_reason(), HasSubstr("warmup_steps: not a parameter of the search space"));
  EXPECT_EQ(server.request_count(), 3);  // max_repairs = 2
  const auto requests = server.requests();
  EXPECT_THAT(requests[1].messages.back().second, HasSubstr("lr"));
  EXPECT_THAT(requests[2].messages.back().second, HasSubstr("num_heads"));
}

TEST(LlmPlannerTest, RepeatedConfigurationIsReasked) {
  // {} keeps the current best, i.e. repeats trial 1.
  FakeLlmServer server({Completion(Proposal("{}")), Completion(kGood)});
  absl::StatusOr<std::vector<PlannedTrial>> planned = Make(Spec("llm", server))->Propose(RichContext());
  ASSERT_TRUE(planned.ok()) << planned.status();
  EXPECT_FALSE((*planned)[0].proposal.fallback());
  ASSERT_EQ(server.request_count(), 2);
  EXPECT_THAT(server.requests()[1].messages.back().second, HasSubstr("repeats a finished, running or already proposed"));
}

TEST(LlmPlannerTest, ValidProposalsOfAPartlyBadReplyAreKept) {
  const std::string mixed = R"({"proposals": [{"configuration": {"dropout": 0.4}}, {"configuration": {"optimizer": "sgd"}}]})";
  FakeLlmServer server({Completion(mixed), Completion(Proposal(R"({"optimizer": "adamw"})"))});
  const std::vector<PlannedTrial> planned = ProposeTwo(server);
  ASSERT_EQ(planned.size(), 2u);
  EXPECT_DOUBLE_EQ(planned[0].config.values().at("dropout").float_value(), 0.4);
  EXPECT_EQ(planned[1].config.values().at("optimizer").categorical_value(), "adamw");
  EXPECT_FALSE(planned[1].proposal.fallback());
  EXPECT_THAT(server.requests()[1].messages.back().second, HasSubstr("1 proposal(s) were accepted. Propose 1 more"));
  EXPECT_THAT(server.requests()[1].messages.back().second, HasSubstr("optimizer"));
}

// A model's JSON becomes typed values: numbers as numbers (a whole 64.0 for an integer
// parameter as the integer 64), quoted numbers read as the parameter's text, and a
// value of the wrong kind refused with the parameter named.
TEST(LlmPlannerTest, ReplyValuesBecomeTypedValues) {
  const std::string typed =
      R"({"proposals": [{"configuration": {"hidden_dim": 64.0, "dropout": 0, "lr": "0.001", "tie_embeddings": false}},)"
      R"( {"configuration": {"pre_norm": [1]}}]})";
  FakeLlmServer server({Completion(typed), Completion(Proposal(R"({"optimizer": "adamw"})"))});
  const std::vector<PlannedTrial> planned = ProposeTwo(server);
  ASSERT_EQ(planned.size(), 2u);
  const vmle::v1::Configuration& c = planned[0].config;
  EXPECT_EQ(c.values().at("hidden_dim").kind_case(), vmle::v1::ParamValue::kIntValue);
  EXPECT_EQ(c.values().at("hidden_dim").int_value(), 64);
  EXPECT_EQ(c.values().at("dropout").kind_case(), vmle::v1::ParamValue::kFloatValue);
  EXPECT_DOUBLE_EQ(c.values().at("lr").float_value(), 0.001);
  EXPECT_EQ(c.values().at("tie_embeddings").kind_case(), vmle::v1::ParamValue::kBoolValue);
  EXPECT_THAT(server.requests()[1].messages.back().second,
              HasSubstr("parameter 'pre_norm': expected a bool value, got [1]"));
}

TEST(LlmPlannerTest, EndpointErrorsFallBackAfterRetries) {
  FakeLlmServer server({HttpError(500), HttpError(429), HttpError(500, "still down")});
  absl::StatusOr<std::vector<PlannedTrial>> planned = FastLlmPlanner(server, 2)->Propose(RichContext());
  ASSERT_TRUE(planned.ok()) << planned.status();
  ASSERT_EQ(planned->size(), 1u);
  EXPECT_TRUE((*planned)[0].proposal.fallback());
  EXPECT_THAT((*planned)[0].proposal.fallback_reason(), HasSubstr("LLM request failed"));
  EXPECT_THAT((*planned)[0].proposal.fallback_reason(), HasSubstr("still down"));
  EXPECT_EQ(server.request_count(), 3);  // the client's attempts; no repairs of a failed request
}

TEST(LlmPlannerTest, TimeoutsFallBackAndARetriedTimeoutDoesNot) {
  {
    FakeLlmServer server({Slow(absl::Seconds(2)), Completion(kGood)});
    absl::StatusOr<std::vector<PlannedTrial>> planned = FastLlmPlanner(server, 2)->Propose(RichContext());
    ASSERT_TRUE(planned.ok()) << planned.status();
    EXPECT_FALSE((*planned)[0].proposal.fallback());
  }
  FakeLlmServer server({Slow(absl::Seconds(2)), Slow(absl::Seconds(2)), Slow(absl::Seconds(2))});
  absl::StatusOr<std::vector<PlannedTrial>> planned = FastLlmPlanner(server, 2)->Propose(RichContext());
  ASSERT_TRUE(planned.ok()) << planned.status();
  EXPECT_TRUE((*planned)[0].proposal.fallback());
  EXPECT_THAT((*planned)[0].proposal.fallback_reason(), HasSubstr("LLM request failed"));
}

TEST(LlmPlannerTest, ReflectsWithTheModelAndFallsBackOnGarbage) {
  PlanningContext context = RichContext();
  vmle::v1::Trial second = context.history[0];
  second.set_number(2);
  (*second.mutable_config()->mutable_values())["dropout"].set_float_value(0.35);
  second.mutable_proposal()->set_changed_dimension("dropout");
  second.set_objective_value(0.0573);
  context.history.push_back(second);
  const std::string reflection =
      R"({"observation": "NDCG rose 10%", "explanation": "less overfitting", )"
      R"("generalized_rule": "small data wants dropout", "next_action": "try 0.45"})";
  FakeLlmServer server({Completion(reflection), Completion("no"), Completion("{}"), Completion("[]")});
  auto planner = Make(Spec("llm", server));
  auto r = planner->Reflect(context, second);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(r->has_value());
  EXPECT_EQ((*r)->author(), "llm");
  EXPECT_EQ((*r)->knob(), "dropout");
  EXPECT_NEAR((*r)->relative_gain(), 0.0573 / 0.0521 - 1, 1e-9);
  EXPECT_EQ((*r)->next_action(), "try 0.45");
  EXPECT_THAT(UserPrompt(server.requests()[0]), HasSubstr("Reflect on this trial"));

  auto fallback = planner->Reflect(context, second);  // three unusable replies
  ASSERT_TRUE(fallback.ok()) << fallback.status();
  if (fallback->has_value()) {
    EXPECT_NE((*fallback)->author(), "llm");
  }
  EXPECT_EQ(server.request_count(), 4);
}

TEST(LlmPlannerTest, DistillsStructuredRulesCheckedAgainstTheSpace) {
  const std::string bad = R"({"prose": "p", "rules": [{"knob": "learning_rate", "direction": "up"}]})";
  const std::string good =
      R"({"prose": "dropout matters on short sequences", "rules": [{"knob": "dropout", "direction": "up", )"
      R"("condition": "mean_length < 10", "effect": 0.1, "evidence_trials": 2, "confidence": 0.6, "text": "t"}], )"
      R"("search_order": ["baseline", "dropout"], "failed_attempts": ["lr up"]})";
  FakeLlmServer server({Completion(bad), Completion(good)});
  auto summary = Make(Spec("llm", server))->Distill(RichContext());
  ASSERT_TRUE(summary.ok()) << summary.status();
  ASSERT_TRUE(summary->has_value());
  const vmle::v1::CognitionSummary& s = **summary;
  ASSERT_EQ(s.rules_size(), 1);
  EXPECT_EQ(s.rules(0).knob(), "dropout");
  EXPECT_EQ(s.rules(0).condition(), "mean_length < 10");
  EXPECT_DOUBLE_EQ(s.rules(0).confidence(), 0.6);
  EXPECT_THAT(s.search_order(), ::testing::ElementsAre("baseline", "dropout"));
  EXPECT_DOUBLE_EQ(s.best_value(), 0.0521);
  EXPECT_THAT(server.requests()[1].messages.back().second, HasSubstr("rules[0].knob"));
}

TEST(OproPlannerTest, SeesOnlyScoredConfigurationsSortedAndTheSpace) {
  PlanningContext context = RichContext();
  for (const auto& [number, lr, value] : {std::tuple{2, 0.003, 0.0601}, std::tuple{3, 0.0001, 0.0409}}) {
    vmle::v1::Trial t = context.history[0];
    t.set_number(number);
    (*t.mutable_config()->mutable_values())["lr"].set_float_value(lr);
    t.set_objective_value(value);
    context.history.push_back(t);
  }
  FakeLlmServer server({Completion(Proposal(R"({"lr": 0.005})"))});
  absl::StatusOr<std::vector<PlannedTrial>> planned = Make(Spec("opro", server))->Propose(context);
  ASSERT_TRUE(planned.ok()) << planned.status();
  ASSERT_EQ(planned->size(), 1u);
  EXPECT_EQ((*planned)[0].proposal.planner(), "opro");
  EXPECT_DOUBLE_EQ((*planned)[0].config.values().at("lr").float_value(), 0.005);
  const std::string prompt = UserPrompt(server.requests()[0]);
  const size_t worst = prompt.find("score: 0.0409"), mid = prompt.find("score: 0.0521"), best = prompt.find("score: 0.0601");
  ASSERT_NE(worst, std::string::npos);
  EXPECT_LT(worst, mid);
  EXPECT_LT(mid, best);
  for (const char* absent : {"baseline reached", "short histories", "priors from the last item", "22363", "0.987654"}) {
    EXPECT_THAT(prompt, Not(HasSubstr(absent)));
  }
  EXPECT_THAT(prompt, HasSubstr("dropout: float in [0, 0.9]"));
  // opro neither reflects nor distills.
  EXPECT_FALSE(Make(Spec("opro", server))->Reflect(context, context.history[1])->has_value());
}

TEST(LlmPlannerTest, ApiKeyGoesOnlyIntoTheAuthorizationHeader) {
  constexpr char kKey[] = "sk-never-logged-42";
  ::setenv("VMLE_LLM_TEST_KEY", kKey, 1);
  const std::string dir = vmle::testing::MakeTempDir();
  FakeLlmServer server({Completion("garbage"), Completion("garbage"), Completion("garbage")});
  llm::LlmConfig config = server.Config(dir);
  config.endpoints[0].api_key_env = "VMLE_LLM_TEST_KEY";
  vmle::v1::PlannerSpec spec = Spec("llm", server);
  ::testing::internal::CaptureStderr();
  absl::StatusOr<std::unique_ptr<Planner>> planner = MakePlanner(spec, Environment(config, "st-key"));
  ASSERT_TRUE(planner.ok()) << planner.status();
  absl::StatusOr<std::vector<PlannedTrial>> planned = (*planner)->Propose(RichContext());
  const std::string logs = ::testing::internal::GetCapturedStderr();
  ASSERT_TRUE(planned.ok()) << planned.status();
  EXPECT_EQ(server.requests()[0].authorization, std::string("Bearer ") + kKey);
  std::stringstream text;
  text << std::ifstream(dir + "/st-key.jsonl").rdbuf();  // the agent names the transcript after the study
  EXPECT_FALSE(text.str().empty());
  for (const std::string& place : {text.str(), logs, (*planned)[0].proposal.fallback_reason()}) {
    EXPECT_THAT(place, Not(HasSubstr(kKey)));
    EXPECT_THAT(place, Not(HasSubstr("Bearer")));
  }
}

TEST(LlmPlannerTest, FactoryKnowsTheLlmPlannersAndValidatesTheirOptions) {
  EXPECT_THAT(PlannerNames(), ::testing::IsSupersetOf({"llm", "opro"}));
  FakeLlmServer server(std::vector<testing::FakeResponse>{});
  auto with = [&](const std::string& key, const std::string& value) {
    vmle::v1::PlannerSpec spec = Spec("llm", server);
    (*spec.mutable_options())[key] = value;
    return spec;
  };
  EXPECT_TRUE(ValidatePlannerOptions(Spec("llm", server)).ok());
  for (const auto& [key, value] : std::vector<std::pair<std::string, std::string>>{
           {"colour", "blue"}, {"temperature", "3"}, {"temperature", "nan"}, {"max_repairs", "-1"},
           {"replay", "/nonexistent/transcript.jsonl"}, {"replay", "../st-1"}, {"endpoint", "../fake"}}) {
    absl::Status s = ValidatePlannerOptions(with(key, value));
    EXPECT_TRUE(absl::IsInvalidArgument(s)) << key << ": " << s;
    EXPECT_THAT(s.message(), HasSubstr("planner.options." + key)) << s;
  }
  // The endpoint and the model must be the operator's.
  for (const auto& [key, value] : std::vector<std::pair<std::string, std::string>>{
           {"endpoint", "other"}, {"model", "gpt-unlisted"}, {"replay", "st-never-recorded"}}) {
    absl::Status s = MakePlanner(with(key, value), Environment(Configured())).status();
    EXPECT_TRUE(absl::IsInvalidArgument(s)) << key << ": " << s;
    EXPECT_THAT(s.message(), HasSubstr("planner.options." + key)) << s;
  }
  // A transcript that is a symbolic link (to a file outside the transcript
  // directory) is neither replayed nor appended to, and its target is untouched.
  {
    const std::string dir = vmle::testing::MakeTempDir();
    const std::string outside = vmle::testing::MakeTempDir() + "/secret.txt";
    std::ofstream(outside) << "not a transcript\n";
    ASSERT_EQ(symlink(outside.c_str(), (dir + "/st-linked.jsonl").c_str()), 0);
    llm::LlmConfig config = server.Config(dir);
    absl::Status replay = MakePlanner(with("replay", "st-linked"), Environment(config)).status();
    EXPECT_TRUE(absl::IsInvalidArgument(replay)) << replay;
    EXPECT_THAT(replay.message(), HasSubstr("planner.options.replay"));
    EXPECT_THAT(replay.message(), HasSubstr("symbolic link"));
    EXPECT_THAT(replay.message(), Not(HasSubstr(outside)));
    absl::Status record = MakePlanner(Spec("llm", server), Environment(config, "st-linked")).status();
    EXPECT_FALSE(record.ok());
    EXPECT_EQ(vmle::testing::ReadTextFile(outside), "not a transcript\n");
  }
  // Without configuration there is no endpoint to call.
  absl::Status none = MakePlanner(Spec("opro", server)).status();
  EXPECT_THAT(none.message(), HasSubstr("planner.options.endpoint: this agent has no LLM endpoint configured"));
  // The only endpoint and its first model are the defaults.
  vmle::v1::PlannerSpec defaults;
  defaults.set_name("llm");
  EXPECT_TRUE(MakePlanner(defaults, Environment(Configured())).ok());
}

// Every option that would name a URL, a file or an environment variable, or set the
// endpoint's limits, is refused naming it, for every planner, and nothing is called.
TEST(LlmPlannerTest, OptionsThatNameFilesUrlsOrVariablesAreRefused) {
  FakeLlmServer server(std::vector<testing::FakeResponse>{});
  const std::string dir = vmle::testing::MakeTempDir();
  for (const char* planner : {"llm", "opro", "heuristic", "tpe"}) {
    for (const auto& [key, value] : std::vector<std::pair<std::string, std::string>>{
             {"base_url", server.base_url()},
             {"api_key_env", "HOME"},
             {"api_key_file", "/etc/passwd"},
             {"transcript", dir + "/t.jsonl"},
             {"timeout_seconds", "5"},
             {"max_attempts", "1"},
             {"summary_path", dir + "/s"},
             {"model", server.base_url()}}) {
      vmle::v1::PlannerSpec spec;
      spec.set_name(planner);
      (*spec.mutable_options())[key] = value;
      for (absl::Status s : {ValidatePlannerOptions(spec), MakePlanner(spec, Environment(server.Config(dir))).status()}) {
        EXPECT_TRUE(absl::IsInvalidArgument(s)) << planner << " " << key << ": " << s;
        EXPECT_THAT(s.message(), HasSubstr("planner.options." + key)) << s;
      }
    }
  }
  EXPECT_EQ(server.request_count(), 0);
  EXPECT_TRUE(std::filesystem::is_empty(dir));
}

TEST(LlmEndpointsTest, ParsesYamlAndJsonAndNamesTheBadField) {
  absl::StatusOr<std::vector<llm::LlmEndpoint>> yaml = llm::ParseLlmEndpoints(R"(
endpoints:
  - name: local
    base_url: http://127.0.0.1:8000/v1
    models: [qwen, llama]
    api_key_env: VMLE_KEY
    timeout_seconds: 30
    max_attempts: 2
  - name: hosted
    base_url: https://llm.example/v1
    models: [big]
    api_key_file: /run/secrets/key
)");
  ASSERT_TRUE(yaml.ok()) << yaml.status();
  ASSERT_EQ(yaml->size(), 2u);
  EXPECT_EQ((*yaml)[0].models, (std::vector<std::string>{"qwen", "llama"}));
  EXPECT_EQ((*yaml)[0].timeout, absl::Seconds(30));
  EXPECT_EQ((*yaml)[0].max_attempts, 2);
  EXPECT_EQ((*yaml)[1].api_key_file, "/run/secrets/key");
  absl::StatusOr<std::vector<llm::LlmEndpoint>> json = llm::ParseLlmEndpoints(
      R"({"endpoints": [{"name": "a", "base_url": "http://h:1/v1", "models": ["m"]}]})");
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_EQ((*json)[0].timeout, absl::Seconds(120));
  for (const auto& [text, field] : std::vector<std::pair<std::string, std::string>>{
           {"endpoints: []", "endpoints"},
           {"endpoints: [{name: a, models: [m]}]", "endpoints[0].base_url"},
           {"endpoints: [{name: a, base_url: 'file:///etc/passwd', models: [m]}]", "endpoints[0].base_url"},
           {"endpoints: [{name: a, base_url: 'http://h/v1'}]", "endpoints[0].models"},
           {"endpoints: [{name: a, base_url: 'http://h/v1', models: [m], timeout_seconds: .nan}]",
            "endpoints[0].timeout_seconds"},
           {"endpoints: [{name: a, base_url: 'http://h/v1', models: [m], colour: blue}]", "endpoints[0].colour"},
           {"endpoints: [{name: a, base_url: 'http://h/v1', models: [m]}, {name: a, base_url: 'http://h/v1', "
            "models: [m]}]",
            "endpoints[1].name"},
           {"{", "document"}}) {
    absl::Status s = llm::ParseLlmEndpoints(text).status();
    EXPECT_TRUE(absl::IsInvalidArgument(s)) << text;
    EXPECT_THAT(s.message(), HasSubstr(field)) << s;
  }
}

}  // namespace
}  // namespace vmle::agent
