#include "common/space/train_config.h"

#include <gtest/gtest.h>

namespace vmle::space {
namespace {

Value I(int64_t v) { return Value::Int(v); }
Value F(double v) { return Value::Float(v); }
Value T(const char* v) { return Value::Text(v); }
Value B(bool v) { return Value::Bool(v); }

void ExpectInvalid(const absl::Status& status, const std::string& needle) {
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find(needle), std::string::npos) << status.message();
}

// `name=value` text as vmle-train's --set gives it: parsed, then applied.
void ExpectInvalid(const std::vector<std::pair<std::string, std::string>>& text, const std::string& needle) {
  const absl::StatusOr<Settings> settings = ParseSettings(text);
  const auto result = settings.ok() ? ApplySettings(TrainConfig{}, *settings) : settings.status();
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(result.status().message().find(needle), std::string::npos) << result.status().message();
}

TEST(TrainConfigTest, DefaultsAreTheReferenceConfigurationAndValidate) {
  const TrainConfig c;
  EXPECT_TRUE(ValidateTrainConfig(c).ok());
  EXPECT_EQ(c.model.max_len, 50);
  EXPECT_EQ(c.model.hidden_dim, 128);
  EXPECT_EQ(c.model.num_blocks, 1);
  EXPECT_EQ(c.model.num_heads, 1);
  EXPECT_DOUBLE_EQ(c.model.dropout, 0.2);
  EXPECT_EQ(c.batch_size, 256);
  EXPECT_DOUBLE_EQ(c.lr, 3e-4);
  EXPECT_DOUBLE_EQ(c.weight_decay, 1e-5);
  EXPECT_EQ(c.loss, LossKind::kSampledSoftmax);
  EXPECT_EQ(c.num_negatives, 500);
  EXPECT_EQ(c.max_epochs, 20);
  EXPECT_EQ(c.early_stop_patience, 3);
  EXPECT_EQ(c.select_metric, "recall@10");
}

TEST(TrainConfigTest, SettingsApply) {
  auto c = ApplySettings(TrainConfig{}, {{"hidden_dim", I(64)}, {"num_heads", I(2)},
                                         {"loss", T("full_softmax")}, {"tie_embeddings", B(false)},
                                         {"lr", F(1e-3)}, {"pooling", T("last_k_mean")}});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->model.hidden_dim, 64);
  EXPECT_EQ(c->loss, LossKind::kFullSoftmax);
  EXPECT_FALSE(c->model.tie_embeddings);
  EXPECT_DOUBLE_EQ(c->lr, 1e-3);
  EXPECT_EQ(DescribeConfig(*c).at("pooling"), "last_k_mean");
}

TEST(TrainConfigTest, HstuAndItsKnobsParse) {
  const absl::StatusOr<Settings> text =
      ParseSettings({{"backbone", "hstu"}, {"linear_dim", "32"}, {"attention_dim", "8"}, {"num_heads", "3"},
                     {"positions", "relative_bias"}, {"embedding_norm", "1"}, {"temperature", "0.1"}});
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  EXPECT_EQ(text->front().second, T("hstu"));
  EXPECT_EQ((*text)[1].second, I(32));
  EXPECT_EQ((*text)[5].second, B(true));
  EXPECT_EQ((*text)[6].second, F(0.1));
  auto c = ApplySettings(TrainConfig{}, *text);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->backbone, Backbone::kHSTU);
  EXPECT_EQ(c->model.linear_dim, 32);
  EXPECT_EQ(c->model.attention_dim, 8);
  EXPECT_EQ(c->model.positions, PositionKind::kRelativeBias);
  EXPECT_TRUE(c->model.embedding_norm);
  EXPECT_DOUBLE_EQ(c->model.temperature, 0.1);
  EXPECT_EQ(DescribeConfig(*c).at("backbone"), "hstu");
}

TEST(TrainConfigTest, EveryKindOfBadSettingNamesTheParameter) {
  ExpectInvalid({{"hidden", "64"}}, "unknown parameter 'hidden'");
  ExpectInvalid({{"hidden_dim", "abc"}}, "'hidden_dim': expected an integer");
  ExpectInvalid({{"lr", "fast"}}, "'lr': expected a number");
  ExpectInvalid({{"lr", "nan"}}, "'lr': expected a number");
  ExpectInvalid({{"dropout", "1.5"}}, "'dropout': must be in");
  ExpectInvalid({{"tie_embeddings", "maybe"}}, "'tie_embeddings': expected true or false");
  ExpectInvalid({{"loss", "hinge"}}, "'loss': expected one of sampled_softmax, full_softmax, bce");
  ExpectInvalid({{"hidden_dim", "100"}, {"num_heads", "3"}}, "'num_heads': must divide hidden_dim");
  ExpectInvalid({{"select_metric", "auc"}}, "'select_metric'");
  ExpectInvalid({{"device", "tpu"}}, "'device'");
  ExpectInvalid({{"batch_size", "0"}}, "'batch_size': must be in");
  ExpectInvalid({{"backbone", "bert4rec"}}, "'backbone': expected one of sasrec, hstu");
  ExpectInvalid({{"positions", "alibi"}}, "'positions': expected one of absolute, rope, none, relative_bias");
  ExpectInvalid({{"temperature", "0"}}, "'temperature': must be in");
  ExpectInvalid({{"linear_dim", "0"}}, "'linear_dim': must be in");
  ExpectInvalid({{"attention_dim", "-4"}}, "'attention_dim': must be in");
  ExpectInvalid({{"backbone", "hstu"}, {"attention_dim", "5"}, {"positions", "rope"}},
                "'positions': rope needs an even attention_dim");
}

// Trials carry typed values: each setting takes its own type, integers take whole
// numbers, real settings integers, and text is never read as a number or a bool.
TEST(TrainConfigTest, TypedSettingsTakeTheirOwnTypeOnly) {
  auto c = ApplySettings(TrainConfig{}, {{"max_epochs", F(30)}, {"lr", I(0)}, {"seed", I(7)},
                                         {"device", T("cpu")}, {"batching", T("random")}});
  ASSERT_FALSE(c.ok());  // lr 0 is out of range; the types themselves were accepted
  ExpectInvalid(c.status(), "'lr': must be in");
  c = ApplySettings(TrainConfig{}, {{"max_epochs", F(30)}, {"grad_clip", I(1)}, {"seed", I(7)},
                                    {"device", T("cpu")}, {"batching", T("random")}});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->max_epochs, 30);
  EXPECT_DOUBLE_EQ(c->grad_clip, 1.0);
  EXPECT_EQ(c->seed, 7u);
  EXPECT_EQ(c->batching, Batching::kRandom);
  ExpectInvalid(ApplySettings(TrainConfig{}, {{"lr", T("0.001")}}).status(),
                "'lr': expected a number, got the text \"0.001\"");
  ExpectInvalid(ApplySettings(TrainConfig{}, {{"max_epochs", F(2.5)}}).status(),
                "'max_epochs': expected an integer, got the number 2.5");
  ExpectInvalid(ApplySettings(TrainConfig{}, {{"pre_norm", T("true")}}).status(),
                "'pre_norm': expected true or false, got the text \"true\"");
  ExpectInvalid(ApplySettings(TrainConfig{}, {{"device", I(0)}}).status(), "'device': expected text, got the integer 0");
  ExpectInvalid(ApplySettings(TrainConfig{}, {{"loss", B(true)}}).status(), "'loss': expected text, got the bool true");
  ExpectInvalid(ApplySettings(TrainConfig{}, {{"seed", Value()}}).status(), "'seed': expected an integer, got no value");
}

}  // namespace
}  // namespace vmle::space
