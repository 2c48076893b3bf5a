// Helpers of the memory service tests: status matchers and record builders.
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/message.h"
#include "rocksdb/env.h"
#include "services/memory/store/memory_store.h"
#include "tests/util/subprocess.h"
#include "vmle/v1/memory.pb.h"
#include "vmle/v1/study.pb.h"

namespace vmle::memory::testing {

inline absl::Status StatusOf(const absl::Status& status) { return status; }
template <typename T>
absl::Status StatusOf(const absl::StatusOr<T>& result) {
  return result.status();
}

// The status (of a Status or StatusOr) has `code` and a message containing `substring`.
MATCHER_P2(StatusIs, code, substring,
           absl::StrCat("has code ", absl::StatusCodeToString(code), " and a message with '",
                        substring, "'")) {
  const absl::Status status = StatusOf(arg);
  *result_listener << "the status is " << status;
  return status.code() == code && absl::StrContains(status.message(), substring);
}

MATCHER(IsOk, "is OK") {
  const absl::Status status = StatusOf(arg);
  *result_listener << "the status is " << status;
  return status.ok();
}

#define VMLE_TEST_CONCAT_INNER_(a, b) a##b
#define VMLE_TEST_CONCAT_(a, b) VMLE_TEST_CONCAT_INNER_(a, b)
// `lhs = *expr` for an OK absl::StatusOr, else a fatal test failure.
#define ASSERT_OK_AND_ASSIGN(lhs, expr) \
  ASSERT_OK_AND_ASSIGN_IMPL_(VMLE_TEST_CONCAT_(_statusor_, __LINE__), lhs, expr)
#define ASSERT_OK_AND_ASSIGN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                               \
  ASSERT_TRUE(tmp.ok()) << tmp.status();           \
  lhs = std::move(tmp).value()

// Serialized bytes with map entries in key order, to compare records exactly.
inline std::string DeterministicBytes(const google::protobuf::Message& message) {
  std::string bytes;
  google::protobuf::io::StringOutputStream stream(&bytes);
  google::protobuf::io::CodedOutputStream coded(&stream);
  coded.SetSerializationDeterministic(true);
  message.SerializeToCodedStream(&coded);
  coded.Trim();
  return bytes;
}

inline v1::Study MakeStudy(const std::string& id) {
  v1::Study study;
  study.set_id(id);
  study.set_state(v1::STUDY_STATE_RUNNING);
  study.mutable_spec()->set_name("study " + id);
  study.mutable_spec()->set_backbone(v1::BACKBONE_SASREC);
  study.mutable_spec()->mutable_budget()->set_max_trials(30);
  return study;
}

// Trial "t-<number>" of `study_id`, with a configuration and one epoch.
inline v1::Trial MakeTrial(const std::string& study_id, int number) {
  v1::Trial trial;
  trial.set_id(absl::StrCat("t-", number));
  trial.set_study_id(study_id);
  trial.set_number(number);
  trial.set_status(v1::TRIAL_STATUS_SUCCEEDED);
  (*trial.mutable_config()->mutable_values())["hidden_dim"].set_int_value(64 * number);
  (*trial.mutable_config()->mutable_values())["lr"].set_float_value(1e-3 / number);
  v1::EpochMetrics* epoch = trial.add_epochs();
  epoch->set_epoch(1);
  epoch->mutable_validation()->set_ndcg_at_10(0.01 * number);
  trial.set_objective_value(0.01 * number);
  trial.mutable_proposal()->set_hypothesis("trial " + std::to_string(number));
  return trial;
}

inline v1::StudyEvent MakeEvent(const std::string& study_id, int64_t sequence,
                                v1::StudyEvent::Type type = v1::StudyEvent::TYPE_TRIAL_FINISHED) {
  v1::StudyEvent event;
  event.set_study_id(study_id);
  event.set_sequence(sequence);
  event.set_type(type);
  event.set_message(absl::StrCat("event ", sequence));
  return event;
}

inline v1::DatasetProfile MakeProfile(int64_t users, int64_t items, int64_t interactions,
                                      double mean_length, double median_length, double gini,
                                      double top1pct_share) {
  v1::DatasetProfile p;
  p.set_num_users(users);
  p.set_num_items(items);
  p.set_num_interactions(interactions);
  p.set_mean_length(mean_length);
  p.set_median_length(median_length);
  p.set_max_length(static_cast<int64_t>(mean_length * 20));
  p.set_density(static_cast<double>(interactions) / (static_cast<double>(users) * items));
  p.set_popularity_gini(gini);
  p.set_top1pct_share(top1pct_share);
  return p;
}

inline v1::CognitionSummary MakeSummary(const std::string& id, v1::Backbone backbone,
                                        const std::string& dataset,
                                        const v1::DatasetProfile& profile) {
  v1::CognitionSummary s;
  s.set_id(id);
  s.set_backbone(backbone);
  s.set_dataset_name(dataset);
  *s.mutable_dataset_profile() = profile;
  s.set_source_study_id("st-" + dataset);
  v1::CognitionRule* rule = s.add_rules();
  rule->set_knob("tie_embeddings");
  rule->set_direction("true");
  rule->set_condition("mean_length < 10");
  rule->set_effect(0.04);
  rule->set_evidence_trials(3);
  rule->set_evidence_datasets(2);
  rule->set_confidence(0.7);
  rule->set_text("short histories: tied embeddings regularise better");
  s.add_search_order("baseline");
  s.add_search_order("loss");
  s.add_failed_attempts("num_blocks=4");
  s.set_best_value(0.0612);
  s.set_objective_metric(v1::METRIC_NDCG_AT_10);
  s.set_prose("On " + dataset + ", tying embeddings helped.");
  return s;
}

// A fresh store in a temporary directory, removed afterwards.
class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = vmle::testing::MakeTempDir();
    options_.path = dir_ + "/db";
    Reopen();
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  // Closes and opens the store again with options_.
  void Reopen() {
    store_.reset();
    ASSERT_OK_AND_ASSIGN(store_, MemoryStore::Open(options_));
  }
  // Stores `study` unconditionally; its new version.
  int64_t PutStudy(const v1::Study& study) {
    v1::PutStudyRequest request;
    *request.mutable_study() = study;
    absl::StatusOr<v1::PutStudyResponse> response = store_->PutStudy(request);
    EXPECT_TRUE(response.ok()) << response.status();
    return response.ok() ? response->version() : -1;
  }
  absl::Status PutTrial(const v1::Trial& trial) {
    v1::PutTrialRequest request;
    *request.mutable_trial() = trial;
    return store_->PutTrial(request).status();
  }
  absl::StatusOr<v1::Trial> GetTrial(const std::string& study_id, const std::string& trial_id) {
    v1::GetTrialRequest request;
    request.set_study_id(study_id);
    request.set_trial_id(trial_id);
    return store_->GetTrial(request);
  }
  absl::StatusOr<v1::Study> GetStudy(const std::string& study_id) {
    v1::GetStudyRecordRequest request;
    request.set_study_id(study_id);
    return store_->GetStudy(request);
  }

  std::string dir_;
  MemoryStoreOptions options_;
  std::unique_ptr<MemoryStore> store_;
};

// A StoreTest whose RocksDB runs on a fault-injecting file system `FS` (a
// rocksdb::FileSystemWrapper over the default one), reachable as fs_.
template <typename FS>
class StoreOnFileSystemTest : public StoreTest {
 protected:
  void SetUp() override {
    fs_ = std::make_shared<FS>();
    env_ = rocksdb::NewCompositeEnv(fs_);
    options_.env = env_.get();
    StoreTest::SetUp();
  }
  void TearDown() override {
    StoreTest::TearDown();  // the store goes before its environment
    env_.reset();
  }
  std::shared_ptr<FS> fs_;
  std::unique_ptr<rocksdb::Env> env_;
};

}  // namespace vmle::memory::testing
