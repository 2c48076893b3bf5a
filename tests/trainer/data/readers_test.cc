// ReadDataset: format names, the sequential format, file-level errors, gzip,
// robustness on hostile input, and the real Beauty file. The raw formats are
// covered in raw_readers_test.cc.

#include "services/trainer/data/readers.h"

#include <chrono>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/trainer/data/test_util.h"

namespace vmle::trainer {
namespace {

using ::vmle::trainer::testing::HasError;
using ::vmle::trainer::testing::TempDir;
using Sequences = std::vector<std::vector<int32_t>>;

constexpr DatasetFormat kAllFormats[] = {
    DatasetFormat::kSequential,   DatasetFormat::kAmazon2014Json, DatasetFormat::kAmazon2023Csv,
    DatasetFormat::kRecBoleInter, DatasetFormat::kMovieLensDat,   DatasetFormat::kCsv,
};

TEST(ParseDatasetFormatTest, AcceptsEveryDocumentedName) {
  const std::pair<const char*, DatasetFormat> cases[] = {
      {"seq", DatasetFormat::kSequential},
      {"sequential", DatasetFormat::kSequential},
      {"amazon2014", DatasetFormat::kAmazon2014Json},
      {"amazon-json", DatasetFormat::kAmazon2014Json},
      {"amazon2023", DatasetFormat::kAmazon2023Csv},
      {"amazon-csv", DatasetFormat::kAmazon2023Csv},
      {"recbole", DatasetFormat::kRecBoleInter},
      {"inter", DatasetFormat::kRecBoleInter},
      {"movielens", DatasetFormat::kMovieLensDat},
      {"ml", DatasetFormat::kMovieLensDat},
      {"csv", DatasetFormat::kCsv},
      {"CSV", DatasetFormat::kCsv},
      {"Amazon2014", DatasetFormat::kAmazon2014Json},
  };
  for (const auto& [name, format] : cases) {
    StatusOr<DatasetFormat> parsed = ParseDatasetFormat(name);
    ASSERT_TRUE(parsed.ok()) << name << ": " << parsed.status().ToString();
    EXPECT_EQ(*parsed, format) << name;
  }
}

TEST(ParseDatasetFormatTest, RejectsUnknownNameListingTheAcceptedOnes) {
  StatusOr<DatasetFormat> parsed = ParseDatasetFormat("parquet");
  EXPECT_TRUE(HasError(parsed.status(), StatusCode::kInvalidArgument, "\"parquet\""));
  EXPECT_TRUE(HasError(parsed.status(), StatusCode::kInvalidArgument, "amazon2023"));
  EXPECT_FALSE(ParseDatasetFormat("").ok());
}

TEST(ParseDatasetFormatTest, CanonicalNamesRoundTrip) {
  for (DatasetFormat format : kAllFormats) {
    StatusOr<DatasetFormat> parsed = ParseDatasetFormat(DatasetFormatName(format));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, format);
  }
}

StatusOr<Dataset> ReadSeq(const std::string& path, ReaderOptions options = {}) {
  return ReadDataset(path, DatasetFormat::kSequential, options);
}

TEST(SequentialReaderTest, KeepsDenseIdsUnchanged) {
  TempDir dir;
  StatusOr<Dataset> data = ReadSeq(dir.Write("seq.txt", "1 1 2 3\n2 4 1\n3 2 5 4 3\n"));
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  EXPECT_EQ(data->num_users, 3);
  EXPECT_EQ(data->num_items, 5);
  EXPECT_EQ(data->sequences, (Sequences{{1, 2, 3}, {4, 1}, {2, 5, 4, 3}}));
}

TEST(SequentialReaderTest, ReindexesSparseIdsMonotonically) {
  TempDir dir;
  // Users 10 and 3 become 2 and 1; items 7, 20, 50 become 1, 2, 3.
  StatusOr<Dataset> data = ReadSeq(dir.Write("seq.txt", "10 50 20\n3 20 7 20\n"));
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  EXPECT_EQ(data->num_users, 2);
  EXPECT_EQ(data->num_items, 3);
  EXPECT_EQ(data->sequences, (Sequences{{2, 1, 2}, {3, 2}}));
}

TEST(SequentialReaderTest, ToleratesWhitespaceVariants) {
  TempDir dir;
  const std::string text =
      "\xEF\xBB\xBF"
      "1\t1  2 \r\n\n   \r\n2 3\t\t1\r\n3 2";  // BOM, tabs, CRLF, blank, no final newline
  StatusOr<Dataset> data = ReadSeq(dir.Write("seq.txt", text));
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  EXPECT_EQ(data->sequences, (Sequences{{1, 2}, {3, 1}, {2}}));
}

TEST(SequentialReaderTest, DropsUsersWithoutItems) {
  TempDir dir;
  StatusOr<Dataset> data = ReadSeq(dir.Write("seq.txt", "1 1 2\n2\n3 2\n"));
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  EXPECT_EQ(data->sequences, (Sequences{{1, 2}, {2}}));
}

TEST(SequentialReaderTest, RejectsBadIdsNamingFileLineAndToken) {
  TempDir dir;
  const std::pair<std::string, std::string> cases[] = {
      {"1 1 2\n2 3 abc\n", "seq.txt:2: expected a positive integer item id, got \"abc\""},
      {"1 1 2\n2 0\n", "seq.txt:2: expected a positive integer item id, got \"0\""},
      {"1 1 -2\n", "seq.txt:1: expected a positive integer item id, got \"-2\""},
      {"1 1 +2\n", "seq.txt:1: expected a positive integer item id, got \"+2\""},
      {"1 1 2.5\n", "seq.txt:1: expected a positive integer item id, got \"2.5\""},
      {"1 99999999999999999999\n", "got \"99999999999999999999\""},
      {"\n\nu7 1 2\n", "seq.txt:3: expected a positive integer user id, got \"u7\""},
      {"1 1\x01\n", "seq.txt:1: expected a positive integer item id, got \"1\\x01\""},
  };
  for (const auto& [text, message] : cases) {
    StatusOr<Dataset> data = ReadSeq(dir.Write("seq.txt", text));
    EXPECT_TRUE(HasError(data.status(), StatusCode::kInvalidArgument, message)) << text;
  }
}

TEST(SequentialReaderTest, RejectsUserOnTwoLines) {
  TempDir dir;
  StatusOr<Dataset> data = ReadSeq(dir.Write("seq.txt", "1 1\n2 2\n1 3\n"));
  EXPECT_TRUE(HasError(data.status(), StatusCode::kInvalidArgument,
                       "seq.txt:3: user 1 already appeared on line 1"));
}

TEST(SequentialReaderTest, AppliesLengthOptions) {
  TempDir dir;
  const std::string path = dir.Write("seq.txt", "1 1 2 3 4\n2 5 6\n3 7\n");
  ReaderOptions options;
  options.max_length = 2;
  options.min_length = 2;
  StatusOr<Dataset> data = ReadSeq(path, options);
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  // Items 1, 2 and 7 disappear; the rest keep their relative order.
  EXPECT_EQ(data->sequences, (Sequences{{1, 2}, {3, 4}}));
}

TEST(ReadDatasetTest, MissingFileIsNotFound) {
  TempDir dir;
  for (DatasetFormat format : kAllFormats) {
    StatusOr<Dataset> data = ReadDataset(dir.Path("absent.txt"), format);
    EXPECT_TRUE(HasError(data.status(), StatusCode::kNotFound, "absent.txt"))
        << DatasetFormatName(format);
  }
}

TEST(ReadDatasetTest, DirectoryIsInvalidArgument) {
  TempDir dir;
  StatusOr<Dataset> data = ReadSeq(dir.Path(""));
  EXPECT_TRUE(HasError(data.status(), StatusCode::kInvalidArgument, "is a directory"));
}

TEST(ReadDatasetTest, EmptyFilesAreFailedPreconditionForEveryFormat) {
  TempDir dir;
  for (DatasetFormat format : kAllFormats) {
    for (const char* text : {"", "\n\n  \n"}) {
      StatusOr<Dataset> data = ReadDataset(dir.Write("empty", text), format);
      EXPECT_TRUE(
          HasError(data.status(), StatusCode::kFailedPrecondition, "contains no interactions"))
          << DatasetFormatName(format);
    }
  }
}

TEST(ReadDatasetTest, FilteringEverythingAwayGivesAHint) {
  TempDir dir;
  ReaderOptions options;
  options.k_core = 5;
  StatusOr<Dataset> data = ReadSeq(dir.Write("seq.txt", "1 1 2\n2 2 3\n"), options);
  EXPECT_TRUE(HasError(data.status(), StatusCode::kFailedPrecondition, "lower k_core"));
}

TEST(ReadDatasetTest, RejectsInvalidOptions) {
  TempDir dir;
  const std::string path = dir.Write("seq.txt", "1 1 2\n");
  ReaderOptions options;
  options.k_core = -1;
  EXPECT_TRUE(HasError(ReadSeq(path, options).status(), StatusCode::kInvalidArgument, "k_core"));
  options = {};
  options.min_length = 5;
  options.max_length = 3;
  EXPECT_TRUE(
      HasError(ReadSeq(path, options).status(), StatusCode::kInvalidArgument, "min_length"));
  options = {};
  options.max_line_bytes = 0;
  EXPECT_TRUE(
      HasError(ReadSeq(path, options).status(), StatusCode::kInvalidArgument, "max_line_bytes"));
}

TEST(ReadDatasetTest, RejectsOverlongLinesWithoutExhaustingMemory) {
  TempDir dir;
  ReaderOptions options;
  options.max_line_bytes = 1000;
  std::string text = "1 1 2\n2";
  for (int i = 0; i < 2000; ++i) text += " 3";
  text += "\n";
  EXPECT_TRUE(HasError(ReadSeq(dir.Write("long.txt", text), options).status(),
                       StatusCode::kInvalidArgument, "long.txt:2: line longer than 1000"));
  // Same without any newline at all.
  EXPECT_TRUE(HasError(ReadSeq(dir.Write("long.txt", std::string(1 << 20, 'x')), options).status(),
                       StatusCode::kInvalidArgument, "long.txt:1: line longer"));
  options.max_line_bytes = 1 << 20;
  EXPECT_TRUE(ReadSeq(dir.Write("long.txt", text), options).ok());
}

TEST(ReadDatasetTest, ReadsLinesAcrossBufferBoundaries) {
  TempDir dir;
  // Several MiB so that lines straddle the reader's internal buffer refills.
  std::string text;
  Sequences expected;
  for (int u = 1; u <= 60000; ++u) {
    text += std::to_string(u);
    auto& seq = expected.emplace_back();
    for (int k = 0; k < 1 + u % 17; ++k) {
      const int item = 1 + (u * 7 + k * 13) % 5000;
      text += " " + std::to_string(item);
      seq.push_back(item);
    }
    text += u % 3 == 0 ? "\r\n" : "\n";
  }
  StatusOr<Dataset> data = ReadSeq(dir.Write("big.txt", text));
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  EXPECT_EQ(data->num_items, 5000);
  EXPECT_EQ(data->sequences, expected);
}

#ifdef VMLE_TEST_HAVE_ZLIB
TEST(GzipTest, DetectsGzipByMagicBytesForEveryFormat) {
  TempDir dir;
  const std::pair<DatasetFormat, std::string> cases[] = {
      {DatasetFormat::kSequential, "1 1 2\n2 2 3\n"},
      {DatasetFormat::kAmazon2014Json,
       "{\"reviewerID\":\"a\",\"asin\":\"x\",\"unixReviewTime\":1}\n"
       "{\"reviewerID\":\"a\",\"asin\":\"y\",\"unixReviewTime\":2}\n"},
      {DatasetFormat::kAmazon2023Csv, "user_id,parent_asin,rating,timestamp\na,x,5,1\na,y,5,2\n"},
      {DatasetFormat::kRecBoleInter, "user_id:token\titem_id:token\na\tx\na\ty\n"},
      {DatasetFormat::kMovieLensDat, "1::10::5::1\n1::20::5::2\n"},
      {DatasetFormat::kCsv, "user_id,item_id,timestamp\na,x,1\na,y,2\n"},
  };
  for (const auto& [format, text] : cases) {
    StatusOr<Dataset> plain = ReadDataset(dir.Write("plain.txt", text), format);
    StatusOr<Dataset> gz = ReadDataset(dir.WriteGzip("data.gz", text), format);
    StatusOr<Dataset> misnamed = ReadDataset(dir.WriteGzip("data.txt", text), format);
    ASSERT_TRUE(plain.ok()) << plain.status().ToString();
    ASSERT_TRUE(gz.ok()) << DatasetFormatName(format) << ": " << gz.status().ToString();
    ASSERT_TRUE(misnamed.ok()) << misnamed.status().ToString();
    EXPECT_EQ(gz->sequences, plain->sequences) << DatasetFormatName(format);
    EXPECT_EQ(misnamed->sequences, plain->sequences);
  }
}

TEST(GzipTest, ReadsLargeAndConcatenatedStreams) {
  TempDir dir;
  std::string part1;
  std::string part2;
  for (int u = 1; u <= 20000; ++u) {
    (u <= 10000 ? part1 : part2) += std::to_string(u) + " " + std::to_string(u % 97 + 1) + " " +
                                    std::to_string(u % 89 + 1) + "\n";
  }
  const std::string a = dir.WriteGzip("a.gz", part1);
  const std::string b = dir.WriteGzip("b.gz", part2);
  // Concatenated gzip members form one valid gzip stream.
  std::ifstream in_a(a, std::ios::binary);
  std::ifstream in_b(b, std::ios::binary);
  const std::string joined = std::string(std::istreambuf_iterator<char>(in_a), {}) +
                             std::string(std::istreambuf_iterator<char>(in_b), {});
  StatusOr<Dataset> data = ReadSeq(dir.Write("joined.gz", joined));
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  EXPECT_EQ(data->num_users, 20000);
  StatusOr<Dataset> plain = ReadSeq(dir.Write("joined.txt", part1 + part2));
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(data->sequences, plain->sequences);
}

TEST(GzipTest, CorruptOrTruncatedStreamIsInvalidArgument) {
  TempDir dir;
  std::string text;
  for (int u = 1; u <= 5000; ++u) text += std::to_string(u) + " 1 2 3 4 5 6 7 8 9\n";
  const std::string path = dir.WriteGzip("good.gz", text);
  std::ifstream in(path, std::ios::binary);
  const std::string bytes(std::istreambuf_iterator<char>(in), {});
  ASSERT_GT(bytes.size(), 40u);

  const std::string truncated = dir.Write("truncated.gz", bytes.substr(0, bytes.size() / 2));
  EXPECT_TRUE(HasError(ReadSeq(truncated).status(), StatusCode::kInvalidArgument, "gzip"));

  std::string flipped = bytes;
  for (size_t i = 20; i < flipped.size() - 10; i += 7) flipped[i] = static_cast<char>(~flipped[i]);
  EXPECT_TRUE(
      HasError(ReadSeq(dir.Write("corrupt.gz", flipped)).status(), StatusCode::kInvalidArgument));

  EXPECT_TRUE(HasError(ReadSeq(dir.Write("magic.gz", "\x1f\x8b")).status(),
                       StatusCode::kInvalidArgument, "magic.gz"));
}

TEST(GzipTest, MalformedContentReportsDecompressedLineNumbers) {
  TempDir dir;
  StatusOr<Dataset> data = ReadSeq(dir.WriteGzip("bad.txt.gz", "1 1 2\n2 2 3\n3 x\n"));
  EXPECT_TRUE(HasError(data.status(), StatusCode::kInvalidArgument,
                       "bad.txt.gz:3: expected a positive integer item id, got \"x\""));
}
#else   // !VMLE_TEST_HAVE_ZLIB
TEST(GzipTest, WithoutZlibGzipInputIsRefusedClearly) {
  TempDir dir;
  StatusOr<Dataset> data = ReadSeq(dir.Write("data.gz", std::string("\x1f\x8b\x08\0", 4)));
  EXPECT_TRUE(HasError(data.status(), StatusCode::kUnimplemented, "no zlib support"));
}
#endif  // VMLE_TEST_HAVE_ZLIB

// Hostile input must produce a Status, never a crash or a hang.
TEST(RobustnessTest, RandomBytesNeverCrash) {
  TempDir dir;
  std::mt19937_64 rng(42);
  for (int round = 0; round < 40; ++round) {
    std::string bytes(1 + rng() % 4096, '\0');
    const bool texty = round % 2 == 0;
    constexpr char kAlphabet[] = "0123456789 \t\n\",:{}[]\\u-.eab::";
    for (char& c : bytes) {
      c = texty ? kAlphabet[rng() % (sizeof(kAlphabet) - 1)] : static_cast<char>(rng());
    }
    if (round % 5 == 0) bytes.insert(0, "\x1f\x8b");
    const std::string path = dir.Write("garbage", bytes);
    for (DatasetFormat format : kAllFormats) {
      ReaderOptions options;
      options.max_line_bytes = 512;
      StatusOr<Dataset> data = ReadDataset(path, format, options);
      if (data.ok()) {
        EXPECT_TRUE(ValidateDataset(*data).ok());
        continue;
      }
      const StatusCode code = data.status().code();
#ifndef VMLE_TEST_HAVE_ZLIB
      if (code == StatusCode::kUnimplemented) continue;  // gzip magic, no zlib
#endif
      EXPECT_TRUE(code == StatusCode::kInvalidArgument || code == StatusCode::kFailedPrecondition)
          << data.status().ToString();
    }
  }
}

TEST(BeautyTest, ReadsTheRealFile) {
  const std::string path = std::string(VMLE_SHARED_DATA_DIR) + "/Beauty.txt";
  if (!std::ifstream(path).good()) GTEST_SKIP() << path << " not present";
  const auto start = std::chrono::steady_clock::now();
  StatusOr<Dataset> data = ReadSeq(path);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  EXPECT_EQ(data->num_users, 22363);
  EXPECT_EQ(data->num_items, 12101);
  EXPECT_EQ(NumInteractions(*data), 198502);
  EXPECT_EQ(data->sequences[0], (std::vector<int32_t>{1, 2, 3, 4, 5}));  // ids kept
  EXPECT_TRUE(ValidateDataset(*data).ok());
  RecordProperty("load_seconds", std::to_string(seconds));
  EXPECT_LT(seconds, 5.0);  // generous: well under a second in optimised builds
}

}  // namespace
}  // namespace vmle::trainer
