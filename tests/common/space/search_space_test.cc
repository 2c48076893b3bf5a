// The search space as data: defaults validate, and every kind of bad parameter
// definition, narrowing or configuration is refused with a message naming it.
#include "common/space/search_space.h"

#include <algorithm>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace vmle::space {
namespace {

using ::testing::HasSubstr;

const SearchSpace& Sasrec() { return DefaultSearchSpace(Backbone::kSASRec); }
const SearchSpace& Hstu() { return DefaultSearchSpace(Backbone::kHSTU); }

Value I(int64_t v) { return Value::Int(v); }
Value F(double v) { return Value::Float(v); }
Value T(const char* v) { return Value::Text(v); }
Value B(bool v) { return Value::Bool(v); }

void ExpectInvalid(const absl::Status& status, const std::string& fragment) {
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status.message();
  EXPECT_THAT(status.message(), HasSubstr(fragment));
}

TEST(SearchSpaceTest, EveryDefaultParameterIsWellFormed) {
  for (const SearchSpace* space : {&Sasrec(), &Hstu()}) {
    for (const ParamSpec& p : space->params) {
      EXPECT_TRUE(ValidateParamSpec(p).ok()) << p.name << ": " << ValidateParamSpec(p).message();
      EXPECT_FALSE(p.description.empty()) << p.name;
      if (!p.condition_param.empty()) {
        const ParamSpec* cond = space->Find(p.condition_param);
        ASSERT_NE(cond, nullptr) << p.name;
        EXPECT_TRUE(ParseValue(*cond, p.condition_value).ok()) << p.name;
      }
    }
  }
}

TEST(SearchSpaceTest, BackbonesHaveTheirNamesAndOwnParameters) {
  EXPECT_EQ(Sasrec().backbone, Backbone::kSASRec);
  EXPECT_EQ(Hstu().backbone, Backbone::kHSTU);
  EXPECT_EQ(BackboneName(Backbone::kHSTU), "hstu");
  EXPECT_NE(Hstu().Find("linear_dim"), nullptr);
  EXPECT_NE(Hstu().Find("attention_dim"), nullptr);
  EXPECT_EQ(Sasrec().Find("linear_dim"), nullptr);
  EXPECT_EQ(Hstu().Find("feed_forward"), nullptr);  // HSTU has no feed-forward layer
  EXPECT_EQ(Hstu().Find("pre_norm"), nullptr);
  for (const SearchSpace* space : {&Sasrec(), &Hstu()}) {
    const ParamSpec* positions = space->Find("positions");
    ASSERT_NE(positions, nullptr);
    EXPECT_TRUE(ValidateValue(*positions, T("relative_bias")).ok());
    ASSERT_NE(space->Find("temperature"), nullptr);
    EXPECT_EQ(space->Find("temperature")->condition_param, "embedding_norm");
    EXPECT_EQ(space->Find("temperature")->condition_value, "true");
  }
}

TEST(SearchSpaceTest, HstuDefaultsValidateAndAreTheHstuReference) {
  const absl::StatusOr<TrainConfig> c = ValidateConfiguration(Hstu(), {});
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->backbone, Backbone::kHSTU);
  EXPECT_EQ(c->model.hidden_dim, 128);
  EXPECT_EQ(c->model.linear_dim, 32);
  EXPECT_EQ(c->model.attention_dim, 32);
  EXPECT_EQ(c->model.num_blocks, 1);
  EXPECT_EQ(c->model.num_heads, 4);
  EXPECT_DOUBLE_EQ(c->model.dropout, 0.5);
  EXPECT_EQ(c->model.positions, PositionKind::kAbsoluteRelative);
  EXPECT_TRUE(c->model.embedding_norm);
  EXPECT_DOUBLE_EQ(c->model.temperature, 0.05);
  EXPECT_TRUE(c->model.tie_embeddings);
  EXPECT_EQ(c->batch_size, 128);
  EXPECT_DOUBLE_EQ(c->lr, 3e-4);
  EXPECT_EQ(c->optimizer, OptimizerKind::kAdamW);
  EXPECT_DOUBLE_EQ(c->adam_beta1, 0.9);
  EXPECT_DOUBLE_EQ(c->adam_beta2, 0.98);
  EXPECT_EQ(c->loss, LossKind::kSampledSoftmax);
  EXPECT_EQ(c->num_negatives, 500);
  EXPECT_EQ(c->select_metric, "ndcg@10");
  EXPECT_DOUBLE_EQ(c->grad_clip, 0);
  EXPECT_EQ(c->batching, Batching::kPacked);
  EXPECT_EQ(c->max_epochs, 20);
  EXPECT_EQ(c->early_stop_patience, 3);
}

TEST(SearchSpaceTest, SasrecDefaultsKeepRawDotProducts) {
  const absl::StatusOr<TrainConfig> c = ValidateConfiguration(Sasrec(), {});
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_FALSE(c->model.embedding_norm);
  EXPECT_EQ(c->model.positions, PositionKind::kAbsolute);
  const absl::StatusOr<TrainConfig> normed =
      ValidateConfiguration(Sasrec(), {{"embedding_norm", B(true)}, {"temperature", F(0.1)},
                                       {"positions", T("relative_bias")}});
  ASSERT_TRUE(normed.ok()) << normed.status().message();
  EXPECT_TRUE(normed->model.embedding_norm);
  EXPECT_DOUBLE_EQ(normed->model.temperature, 0.1);
  EXPECT_EQ(normed->model.positions, PositionKind::kRelativeBias);
}

TEST(SearchSpaceTest, RejectsEachKindOfBadHstuConfiguration) {
  ExpectInvalid(ValidateConfiguration(Hstu(), {{"linear_dim", I(0)}}).status(),
                "parameter 'linear_dim': must be in [4, 128], got 0");
  ExpectInvalid(ValidateConfiguration(Hstu(), {{"linear_dim", I(512)}}).status(),
                "parameter 'linear_dim': must be in [4, 128]");
  ExpectInvalid(ValidateConfiguration(Hstu(), {{"linear_dim", F(16.5)}}).status(),
                "parameter 'linear_dim': expected an integer, got the number 16.5");
  ExpectInvalid(ValidateConfiguration(Hstu(), {{"attention_dim", I(2)}}).status(),
                "parameter 'attention_dim': must be in [4, 128]");
  ExpectInvalid(ValidateConfiguration(Hstu(), {{"temperature", F(0)}}).status(),
                "parameter 'temperature': must be in [0.01, 1]");
  ExpectInvalid(ValidateConfiguration(Hstu(), {{"embedding_norm", T("on")}}).status(),
                "parameter 'embedding_norm': expected true or false, got the text \"on\"");
  ExpectInvalid(ValidateConfiguration(Hstu(), {{"positions", T("alibi")}}).status(),
                "parameter 'positions': expected one of absolute, rope, none, relative_bias");
  ExpectInvalid(ValidateConfiguration(Hstu(), {{"attention_dim", I(5)}, {"positions", T("rope")}}).status(),
                "parameter 'positions': rope needs an even attention_dim");
  // Knobs of the other backbone would be silently ignored: refused instead.
  ExpectInvalid(ValidateConfiguration(Hstu(), {{"feed_forward", T("swiglu")}}).status(),
                "parameter 'feed_forward': not in the hstu search space (it is a sasrec parameter)");
  ExpectInvalid(ValidateConfiguration(Sasrec(), {{"linear_dim", I(32)}}).status(),
                "parameter 'linear_dim': not in the sasrec search space (it is a hstu parameter)");
  // HSTU heads have their own widths: hidden_dim need not divide by them.
  EXPECT_TRUE(ValidateConfiguration(Hstu(), {{"num_heads", I(3)}}).ok());
}

TEST(SearchSpaceTest, DefaultsValidateAndAreTheReferenceConfiguration) {
  const absl::StatusOr<TrainConfig> config = ValidateConfiguration(Sasrec(), {});
  ASSERT_TRUE(config.ok()) << config.status().message();
  const TrainConfig reference;
  EXPECT_EQ(DescribeConfig(*config), DescribeConfig(reference));
}

TEST(SearchSpaceTest, ConfigurationValuesAreApplied) {
  const absl::StatusOr<TrainConfig> config =
      ValidateConfiguration(Sasrec(), {{"hidden_dim", I(64)}, {"loss", T("bce")}, {"threads", I(2)}});
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->model.hidden_dim, 64);
  EXPECT_EQ(config->loss, LossKind::kBce);
  EXPECT_EQ(config->threads, 2);
}

TEST(SearchSpaceTest, RejectsEachKindOfBadConfiguration) {
  ExpectInvalid(ValidateConfiguration(Sasrec(), {{"hiden_dim", I(64)}}).status(),
                "unknown parameter 'hiden_dim'");
  ExpectInvalid(ValidateConfiguration(Sasrec(), {{"hidden_dim", T("64")}}).status(),
                "parameter 'hidden_dim': expected an integer, got the text \"64\"");
  ExpectInvalid(ValidateConfiguration(Sasrec(), {{"hidden_dim", I(8)}}).status(),
                "parameter 'hidden_dim': must be in [16, 512]");
  ExpectInvalid(ValidateConfiguration(Sasrec(), {{"lr", F(0.5)}}).status(), "parameter 'lr': must be in");
  ExpectInvalid(ValidateConfiguration(Sasrec(), {{"dropout", B(false)}}).status(),
                "parameter 'dropout': expected a number, got the bool false");
  ExpectInvalid(ValidateConfiguration(Sasrec(), {{"optimizer", T("sgd")}}).status(),
                "parameter 'optimizer': expected one of adam, adamw");
  ExpectInvalid(ValidateConfiguration(Sasrec(), {{"tie_embeddings", I(1)}}).status(),
                "parameter 'tie_embeddings': expected true or false, got the integer 1");
  ExpectInvalid(ValidateConfiguration(Sasrec(), {{"num_heads", I(3)}}).status(),
                "parameter 'num_heads': must divide hidden_dim");
  ExpectInvalid(ValidateConfiguration(Sasrec(), {{"lr", F(0.001)}, {"lr", F(0.002)}}).status(),
                "parameter 'lr': set twice");
  ExpectInvalid(ValidateConfiguration(Sasrec(), {{"backbone", T("sasrec")}}).status(),
                "parameter 'backbone'");
  ExpectInvalid(ValidateConfiguration(Sasrec(), {{"positions", T("rope")}, {"num_heads", I(8)},
                                                 {"hidden_dim", I(24)}}).status(),
                "parameter 'positions': rope needs an even head dimension");
  ExpectInvalid(ValidateConfiguration(Sasrec(), {{"temperature", F(5)}}).status(),
                "parameter 'temperature': must be in [0.01, 1]");
}

TEST(SearchSpaceTest, RejectsEachKindOfBadParameterDefinition) {
  ParamSpec p = *Sasrec().Find("dropout");
  p.min = 0.6;
  p.max = 0.4;
  ExpectInvalid(ValidateParamSpec(p), "parameter 'dropout': min (0.6) must not exceed max (0.4)");

  p = *Sasrec().Find("dropout");
  p.log_scale = true;
  ExpectInvalid(ValidateParamSpec(p), "parameter 'dropout': log scale needs min > 0");

  p = *Sasrec().Find("hidden_dim");
  p.min = 16.5;
  ExpectInvalid(ValidateParamSpec(p), "parameter 'hidden_dim': integer bounds must be whole");

  p = *Sasrec().Find("optimizer");
  p.choices = {"adam", "adam"};
  ExpectInvalid(ValidateParamSpec(p), "parameter 'optimizer': choice \"adam\" is listed twice");

  p = *Sasrec().Find("optimizer");
  p.choices.clear();
  ExpectInvalid(ValidateParamSpec(p), "parameter 'optimizer': a categorical parameter needs");

  p = *Sasrec().Find("lr");
  p.default_value = F(1);
  ExpectInvalid(ValidateParamSpec(p), "parameter 'lr': default");

  p = *Sasrec().Find("hidden_dim");
  p.step = 16;
  p.default_value = I(40);
  ExpectInvalid(ValidateParamSpec(p), "must be 16 + a multiple of 16, got 40");
}

TEST(SearchSpaceTest, NarrowingKeepsOtherParametersAndChecksBounds) {
  ParamSpec lr = *Sasrec().Find("lr");
  lr.min = 1e-4;
  lr.max = 1e-3;
  lr.default_value = Value();
  ParamSpec opt;
  opt.name = "optimizer";
  opt.type = ParamType::kCategorical;
  opt.choices = {"adamw"};
  const absl::StatusOr<SearchSpace> narrowed = NarrowSearchSpace(Sasrec(), {lr, opt});
  ASSERT_TRUE(narrowed.ok()) << narrowed.status().message();
  EXPECT_EQ(narrowed->params.size(), Sasrec().params.size());
  EXPECT_DOUBLE_EQ(narrowed->Find("lr")->max, 1e-3);
  EXPECT_EQ(narrowed->Find("lr")->default_value, F(0.0003));
  EXPECT_EQ(narrowed->Find("optimizer")->default_value, T("adamw"));
  EXPECT_EQ(narrowed->Find("hidden_dim")->max, 512);
  EXPECT_TRUE(ValidateConfiguration(*narrowed, {}).ok());
  ExpectInvalid(ValidateConfiguration(*narrowed, {{"lr", F(0.005)}}).status(),
                "parameter 'lr': must be in [0.0001, 0.001]");
}

TEST(SearchSpaceTest, RejectsEachKindOfBadNarrowing) {
  ParamSpec unknown;
  unknown.name = "momentum";
  ExpectInvalid(NarrowSearchSpace(Sasrec(), {unknown}).status(),
                "parameter 'momentum': not in the sasrec search space");

  ParamSpec wrong_type = *Sasrec().Find("hidden_dim");
  wrong_type.type = ParamType::kFloat;
  ExpectInvalid(NarrowSearchSpace(Sasrec(), {wrong_type}).status(),
                "parameter 'hidden_dim': is int, not float");

  ParamSpec wide = *Sasrec().Find("dropout");
  wide.max = 0.99;
  ExpectInvalid(NarrowSearchSpace(Sasrec(), {wide}).status(),
                "parameter 'dropout': narrowed bounds [0, 0.99] leave [0, 0.9]");

  ParamSpec foreign = *Sasrec().Find("optimizer");
  foreign.choices = {"adam", "sgd"};
  ExpectInvalid(NarrowSearchSpace(Sasrec(), {foreign}).status(),
                "parameter 'optimizer': choice \"sgd\" is not one of");

  ParamSpec twice = *Sasrec().Find("lr");
  ExpectInvalid(NarrowSearchSpace(Sasrec(), {twice, twice}).status(), "parameter 'lr': narrowed twice");

  ParamSpec inverted = *Sasrec().Find("lr");
  inverted.min = 1e-3;
  inverted.max = 1e-4;
  ExpectInvalid(NarrowSearchSpace(Sasrec(), {inverted}).status(), "parameter 'lr': min");
}

// Values keep their type: a whole number conforms to an integer parameter and an
// integer to a real one, but text is never read as a number or a bool.
TEST(SearchSpaceTest, ValuesConformToTheirParametersTypeAndTextIsNeverANumber) {
  const ParamSpec& hidden = *Sasrec().Find("hidden_dim");
  const ParamSpec& dropout = *Sasrec().Find("dropout");
  const ParamSpec& tie = *Sasrec().Find("tie_embeddings");
  EXPECT_EQ(ConformValue(hidden, F(64)).value(), I(64));
  EXPECT_EQ(ConformValue(dropout, I(0)).value(), F(0));
  EXPECT_EQ(ConformValue(tie, B(true)).value(), B(true));
  ExpectInvalid(ConformValue(hidden, F(64.5)).status(), "expected an integer, got the number 64.5");
  ExpectInvalid(ConformValue(dropout, T("0.1")).status(), "expected a number, got the text \"0.1\"");
  ExpectInvalid(ConformValue(tie, T("true")).status(), "expected true or false, got the text \"true\"");
  ExpectInvalid(ConformValue(hidden, Value()).status(), "expected an integer, got no value");
  // An unbounded text is not echoed whole.
  const absl::Status long_text = ConformValue(*Sasrec().Find("optimizer"), Value::Text(std::string(100000, 'x'))).status();
  ExpectInvalid(long_text, "(100000 bytes)");
  EXPECT_LT(long_text.message().size(), 1000u);
}

// Text is read only where a person or a model writes it, by the parameter's type.
TEST(SearchSpaceTest, ParseValueReadsTextByTheParametersType) {
  EXPECT_EQ(ParseValue(*Sasrec().Find("hidden_dim"), "64").value(), I(64));
  EXPECT_EQ(ParseValue(*Sasrec().Find("lr"), "1e-3").value(), F(1e-3));
  EXPECT_EQ(ParseValue(*Sasrec().Find("tie_embeddings"), "false").value(), B(false));
  EXPECT_EQ(ParseValue(*Sasrec().Find("optimizer"), "adamw").value(), T("adamw"));
  ExpectInvalid(ParseValue(*Sasrec().Find("hidden_dim"), "big").status(),
                "parameter 'hidden_dim': expected an integer, got \"big\"");
  ExpectInvalid(ParseValue(*Sasrec().Find("hidden_dim"), "8").status(), "parameter 'hidden_dim': must be in [16, 512]");
  ExpectInvalid(ParseValue(*Sasrec().Find("dropout"), "x").status(), "parameter 'dropout': expected a number");
  ExpectInvalid(ParseValue(*Sasrec().Find("tie_embeddings"), "yes").status(),
                "parameter 'tie_embeddings': expected true or false");
}

TEST(SearchSpaceTest, WithDefaultsFillsEveryParameterOnce) {
  const Settings filled = WithDefaults(Sasrec(), {{"lr", F(0.001)}});
  EXPECT_EQ(filled.size(), Sasrec().params.size());
  EXPECT_EQ(filled.front(), (std::pair<std::string, Value>{"lr", F(0.001)}));
  EXPECT_EQ(filled.back(), (std::pair<std::string, Value>{"pre_norm", B(false)}));
}

}  // namespace
}  // namespace vmle::space

namespace vmle::space {
namespace {

// A study fixes a parameter by removing it from the space the planner explores; the
// configuration still names it, and it stays valid for its own backbone even when
// another backbone shares the name.
TEST(SearchSpaceTest, ParameterRemovedFromTheSpaceStaysValidForItsBackbone) {
  SearchSpace space = DefaultSearchSpace(Backbone::kSASRec);
  space.params.erase(std::remove_if(space.params.begin(), space.params.end(),
                                    [](const ParamSpec& p) { return p.name == "hidden_dim"; }),
                     space.params.end());
  const absl::StatusOr<TrainConfig> config = ValidateConfiguration(space, {{"hidden_dim", Value::Int(16)}});
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->model.hidden_dim, 16);
}

}  // namespace
}  // namespace vmle::space
