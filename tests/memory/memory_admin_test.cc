// MemoryStore administration: which directories it opens, online backups, stats,
// metrics, and the JSON exchange of cognition summaries.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "prometheus/registry.h"
#include "prometheus/text_serializer.h"
#include "rocksdb/db.h"
#include "services/memory/store/cognition_json.h"
#include "services/memory/store/memory_store.h"
#include "tests/memory/memory_test_util.h"

namespace vmle::memory::testing {
namespace {

namespace fs = std::filesystem;
using absl::StatusCode;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class OpenTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = vmle::testing::MakeTempDir(); }
  void TearDown() override { fs::remove_all(dir_); }
  absl::StatusOr<std::unique_ptr<MemoryStore>> Open(const std::string& path) {
    MemoryStoreOptions options;
    options.path = path;
    return MemoryStore::Open(options);
  }
  std::string dir_;
};

TEST_F(OpenTest, CreatesAMissingOrEmptyDirectoryAndReopensIt) {
  ASSERT_THAT(Open(dir_ + "/a/b/db"), IsOk());
  fs::create_directory(dir_ + "/empty");
  ASSERT_THAT(Open(dir_ + "/empty"), IsOk());
  ASSERT_THAT(Open(dir_ + "/empty"), IsOk());
}

TEST_F(OpenTest, ADirectoryWithOtherFilesIsNotOurs) {
  fs::create_directory(dir_ + "/db");
  std::ofstream(dir_ + "/db/notes.txt") << "not a database\n";
  EXPECT_THAT(Open(dir_ + "/db"),
              StatusIs(StatusCode::kFailedPrecondition,
                       "is not a vmle-memory database: it holds files but no RocksDB database"));
  EXPECT_TRUE(fs::exists(dir_ + "/db/notes.txt"));
  EXPECT_FALSE(fs::exists(dir_ + "/db/CURRENT"));
}

TEST_F(OpenTest, AnotherApplicationsRocksDbIsNotOurs) {
  rocksdb::Options options;
  options.create_if_missing = true;
  rocksdb::DB* raw = nullptr;
  ASSERT_TRUE(rocksdb::DB::Open(options, dir_ + "/db", &raw).ok());
  ASSERT_TRUE(raw->Put(rocksdb::WriteOptions(), "key", "value").ok());
  delete raw;
  EXPECT_THAT(Open(dir_ + "/db"),
              StatusIs(StatusCode::kFailedPrecondition,
                       "a RocksDB database without the 'studies' column family"));
}

TEST_F(OpenTest, AnotherFormatVersionIsRefused) {
  ASSERT_THAT(Open(dir_ + "/db"), IsOk());
  std::vector<std::string> names;
  ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), dir_ + "/db", &names).ok());
  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  for (const std::string& n : names) families.emplace_back(n, rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  ASSERT_TRUE(rocksdb::DB::Open(rocksdb::DBOptions(), dir_ + "/db", families, &handles, &raw).ok());
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] == "meta")
      raw->Put(rocksdb::WriteOptions(), handles[i], "format", "vmle.memory.v9");
  }
  for (auto* h : handles) raw->DestroyColumnFamilyHandle(h);
  delete raw;
  EXPECT_THAT(Open(dir_ + "/db"),
              StatusIs(StatusCode::kFailedPrecondition, "holds format 'vmle.memory.v9'"));
}

TEST_F(OpenTest, ADatabaseOpenElsewhereIsLocked) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<MemoryStore> first, Open(dir_ + "/db"));
  EXPECT_THAT(Open(dir_ + "/db"),
              StatusIs(StatusCode::kFailedPrecondition, "is locked by another process"));
}

TEST_F(OpenTest, AFileIsNotADirectory) {
  std::ofstream(dir_ + "/file") << "x";
  EXPECT_THAT(Open(dir_ + "/file"),
              StatusIs(StatusCode::kFailedPrecondition, "is not a directory"));
  EXPECT_THAT(Open(""), StatusIs(StatusCode::kInvalidArgument, "--db: must be non-empty"));
}

class BackupTest : public StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    options_.backup_root = dir_ + "/backups";
    Reopen();
    PutStudy(MakeStudy("st-1"));
    for (int n = 1; n <= 20; ++n) ASSERT_THAT(PutTrial(MakeTrial("st-1", n)), IsOk());
  }
  absl::StatusOr<v1::BackupResponse> Backup(const std::string& path) {
    v1::BackupRequest request;
    request.set_path(path);
    return store_->Backup(request);
  }
};

TEST_F(BackupTest, TheCheckpointOpensAsAStoreWithTheRecordsAtBackupTime) {
  ASSERT_OK_AND_ASSIGN(v1::BackupResponse backup, Backup("backup"));
  EXPECT_EQ(backup.path(), "backup");  // relative to the root, which was created
  EXPECT_GT(backup.bytes(), 0);
  ASSERT_THAT(PutTrial(MakeTrial("st-1", 21)), IsOk());  // after the backup

  MemoryStoreOptions options;
  options.path = dir_ + "/backups/backup";
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<MemoryStore> copy, MemoryStore::Open(options));
  v1::ListTrialRecordsRequest list;
  list.set_study_id("st-1");
  ASSERT_OK_AND_ASSIGN(v1::ListTrialRecordsResponse trials, copy->ListTrials(list));
  ASSERT_EQ(trials.trials_size(), 20);
  for (int n = 1; n <= 20; ++n) {
    EXPECT_EQ(DeterministicBytes(trials.trials(n - 1)), DeterministicBytes(MakeTrial("st-1", n)));
  }
  ASSERT_OK_AND_ASSIGN(v1::GetStatsResponse stats, copy->GetStats({}));
  EXPECT_EQ(stats.records().at("trials"), 20);
  EXPECT_EQ(stats.records().at("studies"), 1);
}

// A request names a directory under the operator's backup root and nothing else:
// absolute paths, "." and "..", and symbolic links out of the root are refused, and
// nothing is written outside it.
TEST_F(BackupTest, EveryTargetLiesUnderTheBackupRoot) {
  EXPECT_THAT(Backup(""), StatusIs(StatusCode::kInvalidArgument, "path: must be non-empty"));
  EXPECT_THAT(Backup(dir_ + "/elsewhere"), StatusIs(StatusCode::kInvalidArgument, "path: '"));
  EXPECT_THAT(Backup(dir_ + "/elsewhere"), StatusIs(StatusCode::kInvalidArgument, "must be relative"));
  EXPECT_THAT(Backup("/tmp/x"), StatusIs(StatusCode::kInvalidArgument, "must be relative"));
  EXPECT_THAT(Backup("../elsewhere"), StatusIs(StatusCode::kInvalidArgument, "must not contain '.' or '..'"));
  EXPECT_THAT(Backup("a/../../elsewhere"), StatusIs(StatusCode::kInvalidArgument, "'..'"));
  EXPECT_THAT(Backup("./x"), StatusIs(StatusCode::kInvalidArgument, "'.'"));
  EXPECT_THAT(Backup("no/such/parent"), StatusIs(StatusCode::kFailedPrecondition, "does not exist"));

  fs::create_directories(dir_ + "/outside");
  fs::create_directory_symlink(dir_ + "/outside", dir_ + "/backups/link");
  EXPECT_THAT(Backup("link/x"), StatusIs(StatusCode::kInvalidArgument, "leads outside the backup root"));
  fs::create_directory_symlink(dir_ + "/nowhere", dir_ + "/backups/dangling");
  EXPECT_THAT(Backup("dangling"), StatusIs(StatusCode::kAlreadyExists, "already exists"));
  fs::create_directory(dir_ + "/backups/exists");
  EXPECT_THAT(Backup("exists"), StatusIs(StatusCode::kAlreadyExists, "already exists"));
  EXPECT_TRUE(fs::is_empty(dir_ + "/outside"));
  EXPECT_FALSE(fs::exists(dir_ + "/nowhere"));
  EXPECT_FALSE(fs::exists(dir_ + "/elsewhere"));

  // An echoed path is cut.
  absl::Status long_path = Backup(std::string(70000, 'a') + "/..").status();
  EXPECT_LT(long_path.message().size(), 400u);

  fs::create_directory(dir_ + "/backups/nightly");
  ASSERT_OK_AND_ASSIGN(v1::BackupResponse backup, Backup("nightly/one/"));
  EXPECT_EQ(backup.path(), "nightly/one");
  EXPECT_TRUE(fs::is_directory(dir_ + "/backups/nightly/one"));
}

TEST_F(BackupTest, NoBackupRootMeansBackupsAreOffAndARootInsideTheDatabaseIsRefused) {
  options_.backup_root = "";
  Reopen();
  EXPECT_THAT(Backup("one"), StatusIs(StatusCode::kFailedPrecondition, "backups are off"));
  options_.backup_root = dir_ + "/db/backups";
  Reopen();
  EXPECT_THAT(Backup("one"), StatusIs(StatusCode::kFailedPrecondition, "inside the database directory"));
}

using StatsTest = StoreTest;

TEST_F(StatsTest, CountsAreExactAcrossUpdatesRetriesAndReopening) {
  PutStudy(MakeStudy("st-1"));
  PutStudy(MakeStudy("st-1"));
  PutStudy(MakeStudy("st-2"));
  for (int n = 1; n <= 3; ++n) ASSERT_THAT(PutTrial(MakeTrial("st-1", n)), IsOk());
  ASSERT_THAT(PutTrial(MakeTrial("st-1", 2)), IsOk());
  v1::AppendEventsRequest append;
  *append.add_events() = MakeEvent("st-1", 1);
  *append.add_events() = MakeEvent("st-1", 2);
  ASSERT_THAT(store_->AppendEvents(append), IsOk());
  ASSERT_THAT(store_->AppendEvents(append), IsOk());
  v1::PutCognitionSummaryRequest summary;
  *summary.mutable_summary() =
      MakeSummary("", v1::BACKBONE_SASREC, "x", MakeProfile(10, 10, 50, 5, 5, 0.5, 0.1));
  ASSERT_THAT(store_->PutCognitionSummary(summary), IsOk());

  for (int pass = 0; pass < 2; ++pass) {
    ASSERT_OK_AND_ASSIGN(v1::GetStatsResponse stats, store_->GetStats({}));
    EXPECT_EQ(stats.records().at("studies"), 2) << pass;
    EXPECT_EQ(stats.records().at("trials"), 3) << pass;
    EXPECT_EQ(stats.records().at("events"), 2) << pass;
    EXPECT_EQ(stats.records().at("reflections"), 0) << pass;
    EXPECT_EQ(stats.records().at("insights"), 0) << pass;
    EXPECT_EQ(stats.records().at("cognition"), 1) << pass;
    EXPECT_GT(stats.bytes_on_disk(), 0) << pass;
    Reopen();
  }
}

// The value of the sample `name{labels}` in the text exposition, or -1.
double Sample(const std::string& text, const std::string& name_and_labels) {
  const std::string escaped = std::regex_replace(name_and_labels, std::regex(R"([{}])"), R"(\$&)");
  std::smatch match;
  if (!std::regex_search(text, match, std::regex("\n" + escaped + " ([0-9.e+-]+)"))) return -1;
  return std::stod(match[1]);
}

TEST_F(StatsTest, MetricsCountOperationsByOutcomeAndRecordsByKind) {
  prometheus::Registry registry;
  options_.metrics = &registry;
  Reopen();
  PutStudy(MakeStudy("st-1"));
  for (int n = 1; n <= 4; ++n) ASSERT_THAT(PutTrial(MakeTrial("st-1", n)), IsOk());
  EXPECT_THAT(GetStudy("st-none"), StatusIs(StatusCode::kNotFound, ""));
  EXPECT_THAT(GetStudy("st-1"), IsOk());

  const std::string text = prometheus::TextSerializer().Serialize(registry.Collect());
  EXPECT_EQ(Sample(text, R"(vmle_memory_operations_total{op="put_trial",outcome="OK"})"), 4)
      << text;
  EXPECT_EQ(Sample(text, R"(vmle_memory_operations_total{op="get_study",outcome="NOT_FOUND"})"), 1);
  EXPECT_EQ(Sample(text, R"(vmle_memory_operations_total{op="get_study",outcome="OK"})"), 1);
  EXPECT_EQ(Sample(text, R"(vmle_memory_operation_seconds_count{op="put_trial"})"), 4);
  EXPECT_EQ(Sample(text, R"(vmle_memory_records{kind="trials"})"), 4);
  EXPECT_EQ(Sample(text, R"(vmle_memory_records{kind="studies"})"), 1);
  EXPECT_GT(Sample(text, "vmle_memory_db_bytes"), 0);
  store_.reset();  // the store must go before the registry it reports to
}

class ExportImportTest : public StoreTest {
 protected:
  // Summaries that exercise every field and the JSON corner cases: int64 beyond 2^53,
  // doubles that need 17 digits, timestamps with nanoseconds, every kind of
  // parameter value, text with quotes, newlines and non-ASCII.
  static std::vector<v1::CognitionSummary> Rich() {
    v1::DatasetProfile big = MakeProfile(9007199254740993LL, 3, 9007199254740995LL, 1.0 / 3,
                                         0.1 + 0.2, 0.123456789012345678, 1e-300);
    std::vector<v1::CognitionSummary> out = {
        MakeSummary("cs-a", v1::BACKBONE_SASREC, "beauty",
                    MakeProfile(22363, 12101, 198502, 8.88, 6, 0.61, 0.12)),
        MakeSummary("cs-b", v1::BACKBONE_HSTU, "ml-1m \"quoted\"\nline two, é ü 中", big),
        MakeSummary("cs-c", v1::BACKBONE_SASREC, "sports",
                    MakeProfile(35598, 18357, 296337, 8.32, 6, 0.55, 0.09))};
    auto& values = *out[1].mutable_best_config()->mutable_values();
    values["hidden_dim"].set_int_value(-9223372036854775807LL);
    values["lr"].set_float_value(2.9999999999999997e-4);
    values["optimizer"].set_categorical_value("adamw");
    values["tie_embeddings"].set_bool_value(true);
    values["dropout"].set_float_value(0);
    out[1].mutable_created_at()->set_seconds(1764115200);
    out[1].mutable_created_at()->set_nanos(123456789);
    out[1].mutable_rules(0)->set_effect(-0.041234567890123456);
    out[0].mutable_created_at()->set_seconds(1764000000);
    out[2].mutable_created_at()->set_seconds(1764000001);
    return out;
  }
  static void PutAll(MemoryStore& store, const std::vector<v1::CognitionSummary>& summaries) {
    for (const v1::CognitionSummary& s : summaries) {
      v1::PutCognitionSummaryRequest request;
      *request.mutable_summary() = s;
      ASSERT_THAT(store.PutCognitionSummary(request), IsOk());
    }
  }
  static std::vector<std::string> Bytes(MemoryStore& store) {
    absl::StatusOr<v1::ListCognitionSummariesResponse> list = store.ListCognitionSummaries({});
    EXPECT_TRUE(list.ok()) << list.status();
    std::vector<std::string> bytes;
    if (list.ok()) {
      for (const auto& s : list->summaries()) bytes.push_back(DeterministicBytes(s));
    }
    return bytes;
  }
  absl::StatusOr<v1::ImportCognitionResponse> Import(const std::string& json, bool overwrite) {
    v1::ImportCognitionRequest request;
    request.set_json(json);
    request.set_overwrite(overwrite);
    return store_->ImportCognition(request);
  }
};

TEST_F(ExportImportTest, ExportThenImportIntoAnEmptyStoreRoundTripsExactly) {
  MemoryStoreOptions source_options;
  source_options.path = dir_ + "/source";
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<MemoryStore> source, MemoryStore::Open(source_options));
  PutAll(*source, Rich());
  ASSERT_OK_AND_ASSIGN(v1::ExportCognitionResponse exported, source->ExportCognition({}));
  EXPECT_EQ(exported.count(), 3);
  EXPECT_THAT(exported.json(), HasSubstr(R"("format": "vmle.cognition.v1")"));
  EXPECT_THAT(exported.json(), HasSubstr(R"("dataset_profile")"));

  ASSERT_OK_AND_ASSIGN(v1::ImportCognitionResponse imported, Import(exported.json(), false));
  EXPECT_EQ(imported.imported(), 3);
  EXPECT_EQ(imported.skipped(), 0);
  const std::vector<std::string> original = Bytes(*source);
  ASSERT_EQ(original.size(), 3u);
  EXPECT_EQ(Bytes(*store_), original);
  ASSERT_OK_AND_ASSIGN(v1::ExportCognitionResponse again, store_->ExportCognition({}));
  EXPECT_EQ(again.json(), exported.json());

  // Importing again keeps the stored summaries unless asked to overwrite.
  ASSERT_OK_AND_ASSIGN(imported, Import(exported.json(), false));
  EXPECT_EQ(imported.imported(), 0);
  EXPECT_EQ(imported.skipped(), 3);
  ASSERT_OK_AND_ASSIGN(imported, Import(exported.json(), true));
  EXPECT_EQ(imported.imported(), 3);
  EXPECT_EQ(Bytes(*store_), original);
}

TEST_F(ExportImportTest, ExportFiltersByBackbone) {
  PutAll(*store_, Rich());
  v1::ExportCognitionRequest request;
  request.set_backbone(v1::BACKBONE_SASREC);
  ASSERT_OK_AND_ASSIGN(v1::ExportCognitionResponse exported, store_->ExportCognition(request));
  EXPECT_EQ(exported.count(), 2);
  ASSERT_OK_AND_ASSIGN(std::vector<v1::CognitionSummary> parsed,
                       CognitionFromJson(exported.json()));
  ASSERT_EQ(parsed.size(), 2u);
  EXPECT_EQ(parsed[0].id(), "cs-a");
  EXPECT_EQ(parsed[1].id(), "cs-c");
}

TEST_F(ExportImportTest, ABadDocumentImportsNothing) {
  std::vector<v1::CognitionSummary> summaries = Rich();
  summaries[2].set_backbone(v1::BACKBONE_UNSPECIFIED);
  ASSERT_OK_AND_ASSIGN(std::string json, CognitionToJson(summaries));
  EXPECT_THAT(Import(json, false),
              StatusIs(StatusCode::kInvalidArgument, "json.summaries[2].backbone: must be set"));
  summaries = Rich();
  summaries[2].set_id("cs-a");
  ASSERT_OK_AND_ASSIGN(json, CognitionToJson(summaries));
  EXPECT_THAT(Import(json, false),
              StatusIs(StatusCode::kInvalidArgument, "json.summaries[2].id: 'cs-a' appears more"));
  EXPECT_THAT(Import(R"({"format": "vmle.cognition.v2", "summaries": []})", false),
              StatusIs(StatusCode::kInvalidArgument, "json.format: 'vmle.cognition.v2' is not"));
  EXPECT_THAT(Import(R"({"format": "vmle.cognition.v1", "summaries": [{"knob": 1}]})", false),
              StatusIs(StatusCode::kInvalidArgument, "json: not a cognition document"));
  EXPECT_THAT(Import("{", false), StatusIs(StatusCode::kInvalidArgument, "json:"));
  EXPECT_THAT(Import("", false), StatusIs(StatusCode::kInvalidArgument, "json: must be non-empty"));
  EXPECT_TRUE(Bytes(*store_).empty());

  // Summaries without ids get fresh ones.
  summaries = Rich();
  for (auto& s : summaries) s.clear_id();
  ASSERT_OK_AND_ASSIGN(json, CognitionToJson(summaries));
  ASSERT_OK_AND_ASSIGN(v1::ImportCognitionResponse imported, Import(json, false));
  EXPECT_EQ(imported.imported(), 3);
  EXPECT_EQ(Bytes(*store_).size(), 3u);
}

}  // namespace
}  // namespace vmle::memory::testing
