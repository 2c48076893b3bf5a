// ReadDataset on the raw formats: Amazon 2014 JSON lines, Amazon 2023 CSV,
// RecBole .inter, MovieLens ratings.dat and generic CSV.

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "services/trainer/data/readers.h"
#include "tests/trainer/data/test_util.h"

namespace vmle::trainer {
namespace {

using ::vmle::trainer::testing::HasError;
using ::vmle::trainer::testing::TempDir;
using Sequences = std::vector<std::vector<int32_t>>;

StatusOr<Dataset> Read(const TempDir& dir, DatasetFormat format, const std::string& text,
                       const std::string& name = "data", const ReaderOptions& options = {}) {
  return ReadDataset(dir.Write(name, text), format, options);
}

// ---- Amazon 2014 JSON lines -------------------------------------------------

std::string Review(const std::string& user, const std::string& item, const std::string& time) {
  return "{\"reviewerID\": \"" + user + "\", \"asin\": \"" + item +
         "\", \"overall\": 5.0, \"unixReviewTime\": " + time + "}\n";
}

TEST(AmazonJsonReaderTest, SortsByTimeAndNumbersByFirstAppearance) {
  TempDir dir;
  const std::string text = Review("B", "x", "30") + Review("A", "y", "20") +
                           Review("B", "z", "10") + Review("A", "x", "10");
  StatusOr<Dataset> data = Read(dir, DatasetFormat::kAmazon2014Json, text);
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  // Users: B (first in file) = 1, A = 2. B's sequence by time: z, x; A's: x, y.
  // Items by first appearance along user 1 then user 2: z=1, x=2, y=3.
  EXPECT_EQ(data->num_users, 2);
  EXPECT_EQ(data->num_items, 3);
  EXPECT_EQ(data->sequences, (Sequences{{1, 2}, {2, 3}}));
}

TEST(AmazonJsonReaderTest, HandlesRealWorldObjects) {
  TempDir dir;
  const std::string text =
      // Field order, nested values with brackets and quotes inside strings.
      "{\"helpful\": [0, 1], \"reviewText\": \"a \\\"}{\\\" [x]\", \"unixReviewTime\": "
      "1400000000, \"style\": {\"Size:\": \" Big\", \"n\": {\"d\": [[]]}}, \"asin\": "
      "\"B000\", \"reviewerID\": \"A1\", \"verified\": true, \"image\": null}\n"
      // Escapes in keys and values, unicode, empty object fields.
      "{\"reviewer\\u0049D\": \"A\\u0031\", \"asin\": \"B\\/001\", "
      "\"summary\": \"caf\\u00e9 \\ud83d\\ude00\", \"unixReviewTime\": 1400000001, "
      "\"extra\": {}}\n"
      // Compact, and a timestamp written as a string.
      "{\"reviewerID\":\"A2\",\"asin\":\"B000\",\"unixReviewTime\":\"1400000002\"}\n";
  StatusOr<Dataset> data = Read(dir, DatasetFormat::kAmazon2014Json, text);
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  EXPECT_EQ(data->sequences, (Sequences{{1, 2}, {1}}));
}

TEST(AmazonJsonReaderTest, EqualTimestampsKeepFileOrder) {
  TempDir dir;
  const std::string text =
      Review("A", "p", "5") + Review("A", "q", "5") + Review("A", "r", "1") + Review("A", "s", "5");
  StatusOr<Dataset> data = Read(dir, DatasetFormat::kAmazon2014Json, text);
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  EXPECT_EQ(data->sequences, (Sequences{{1, 2, 3, 4}}));  // r, p, q, s
}

TEST(AmazonJsonReaderTest, RejectsMalformedLines) {
  TempDir dir;
  const std::string good = Review("A", "x", "1");
  const std::pair<std::string, std::string> cases[] = {
      {"not json\n", "reviews.json:2: expected a JSON object starting with '{'"},
      {"{\"reviewerID\": \"A\", \"unixReviewTime\": 1}\n",
       "reviews.json:2: expected a field \"asin\""},
      {"{\"reviewerID\": \"A\", \"asin\": 7, \"unixReviewTime\": 1}\n",
       "reviews.json:2: expected a string for \"asin\", got \"7\""},
      {"{\"reviewerID\": \"A\", \"asin\": \"x\", \"unixReviewTime\": \"soon\"}\n",
       "expected an integer timestamp for \"unixReviewTime\", got \"soon\""},
      {"{\"reviewerID\": \"A\", \"asin\": \"x\", \"unixReviewTime\": 1\n",
       "reviews.json:2: expected ',' or '}'"},
      {"{\"reviewerID\": \"A\", \"asin\": \"x\", \"unixReviewTime\": 1} extra\n",
       "expected end of line after the JSON object"},
      {"{\"reviewerID\": \"A\", \"asin\": \"x\", \"n\": [1, 2}, \"unixReviewTime\": 1}\n",
       "expected ']'"},
      {"{\"reviewerID\": \"A\\q\", \"asin\": \"x\", \"unixReviewTime\": 1}\n",
       "invalid escape sequence"},
      {"{\"reviewerID\": \"\", \"asin\": \"x\", \"unixReviewTime\": 1}\n", "non-empty"},
      {"{\"reviewerID\": \"A, \"asin\": \"x\", \"unixReviewTime\": 1}\n", "reviews.json:2:"},
      {"{\"reviewerID\": \"A\", \"asin\": \"x\", \"unixReviewTime\": tru}\n",
       "expected true, false or null"},
      {"[{\"reviewerID\": \"A\"}]\n", "expected a JSON object"},
  };
  for (const auto& [bad, message] : cases) {
    StatusOr<Dataset> data =
        Read(dir, DatasetFormat::kAmazon2014Json, good + bad + good, "reviews.json");
    EXPECT_TRUE(HasError(data.status(), StatusCode::kInvalidArgument, message)) << bad;
  }
}

TEST(AmazonJsonReaderTest, DeepNestingDoesNotOverflowTheStack) {
  TempDir dir;
  const std::string deep = std::string(200000, '[') + std::string(200000, ']');
  const std::string text =
      "{\"reviewerID\": \"A\", \"asin\": \"x\", \"deep\": " + deep + ", \"unixReviewTime\": 1}\n";
  StatusOr<Dataset> data = Read(dir, DatasetFormat::kAmazon2014Json, text);
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  const std::string unbalanced = "{\"reviewerID\": \"A\", \"deep\": " + std::string(100000, '{');
  EXPECT_TRUE(HasError(Read(dir, DatasetFormat::kAmazon2014Json, unbalanced).status(),
                       StatusCode::kInvalidArgument, "data:1:"));
}

TEST(AmazonJsonReaderTest, AppliesIterativeKCore) {
  TempDir dir;
  std::string text;
  // Users a, b each review x and y; c reviews x and z; z has one review, so
  // with k = 2 z goes, then c (one review left), and x, y keep two each.
  for (const char* line : {"a x 1", "b x 2", "c x 3", "a y 4", "b y 5", "c z 6"}) {
    const std::string s(line);
    text += Review(s.substr(0, 1), s.substr(2, 1), s.substr(4));
  }
  ReaderOptions options;
  options.k_core = 2;
  StatusOr<Dataset> data = Read(dir, DatasetFormat::kAmazon2014Json, text, "r", options);
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  EXPECT_EQ(data->sequences, (Sequences{{1, 2}, {1, 2}}));
}

// ---- Amazon 2023 CSV --------------------------------------------------------

TEST(Amazon2023ReaderTest, ReadsMillisecondTimestampsAndQuotedFields) {
  TempDir dir;
  const std::string text =
      "user_id,parent_asin,rating,timestamp,history\n"
      "U1,P2,5.0,1588615855070,\"P1 P0, and \"\"more\"\"\"\n"
      "U1,P1,4.0,1588615855069,\n"
      "\"U2\",\"P2\",3.0,1588615855071,\"multi\nline\"\n"
      "U2,P3,3.0,1588615855072,\n";
  StatusOr<Dataset> data = Read(dir, DatasetFormat::kAmazon2023Csv, text);
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  // U1: P1 then P2 (by time); U2: P2, P3.
  EXPECT_EQ(data->sequences, (Sequences{{1, 2}, {2, 3}}));
}

TEST(Amazon2023ReaderTest, FindsColumnsByNameInAnyOrder) {
  TempDir dir;
  const std::string text = "timestamp,rating,asin,user_id\n2,5,x,u\n1,5,y,u\n";
  StatusOr<Dataset> data = Read(dir, DatasetFormat::kAmazon2023Csv, text);
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  EXPECT_EQ(data->sequences, (Sequences{{1, 2}}));  // y then x
}

TEST(Amazon2023ReaderTest, RejectsMissingColumnsAndBadRows) {
  TempDir dir;
  EXPECT_TRUE(HasError(
      Read(dir, DatasetFormat::kAmazon2023Csv, "user_id,parent_asin,rating\nu,p,5\n", "a.csv")
          .status(),
      StatusCode::kInvalidArgument, "a.csv:1: expected a header with a column \"timestamp\""));
  const std::string header = "user_id,parent_asin,rating,timestamp\n";
  EXPECT_TRUE(HasError(
      Read(dir, DatasetFormat::kAmazon2023Csv, header + "u,p,5,1\nu,p,5,yesterday\n", "a.csv")
          .status(),
      StatusCode::kInvalidArgument,
      "a.csv:3: expected a numeric timestamp in column \"timestamp\", got \"yesterday\""));
  EXPECT_TRUE(
      HasError(Read(dir, DatasetFormat::kAmazon2023Csv, header + "u,p,5\n", "a.csv").status(),
               StatusCode::kInvalidArgument, "a.csv:2: expected at least 4 fields, got 3"));
  EXPECT_TRUE(HasError(
      Read(dir, DatasetFormat::kAmazon2023Csv, header + ",p,5,1\n", "a.csv").status(),
      StatusCode::kInvalidArgument, "a.csv:2: expected a non-empty value in column \"user_id\""));
  EXPECT_TRUE(HasError(
      Read(dir, DatasetFormat::kAmazon2023Csv, header + "u,p,5,99999999999999999999\n").status(),
      StatusCode::kInvalidArgument, "numeric timestamp"));
}

// ---- RecBole .inter ---------------------------------------------------------

TEST(RecBoleReaderTest, LocatesTypedColumnsByName) {
  TempDir dir;
  const std::string text =
      "rating:float\ttimestamp:float\titem_id:token\tuser_id:token\n"
      "5\t978300760.9\t1193\t1\n"
      "3\t978300760.1\t661\t1\n"
      "4\t9.783e8\t914\t2\n";
  StatusOr<Dataset> data = Read(dir, DatasetFormat::kRecBoleInter, text, "ml.inter");
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  // Fractions are truncated, so 1193 and 661 tie and keep file order.
  EXPECT_EQ(data->sequences, (Sequences{{1, 2}, {3}}));
}

TEST(RecBoleReaderTest, WithoutTimestampUsesFileOrder) {
  TempDir dir;
  StatusOr<Dataset> data =
      Read(dir, DatasetFormat::kRecBoleInter, "user_id:token\titem_id:token\nu\tb\nu\ta\nv\ta\n");
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  EXPECT_EQ(data->sequences, (Sequences{{1, 2}, {2}}));
}

TEST(RecBoleReaderTest, RejectsMissingItemColumnAndBadTimestamps) {
  TempDir dir;
  EXPECT_TRUE(HasError(
      Read(dir, DatasetFormat::kRecBoleInter, "user_id:token\trating:float\n1\t2\n", "x.inter")
          .status(),
      StatusCode::kInvalidArgument, "x.inter:1: expected a header with a column \"item_id\""));
  EXPECT_TRUE(HasError(Read(dir, DatasetFormat::kRecBoleInter,
                            "user_id:token\titem_id:token\ttimestamp:float\n1\t2\tnan\n", "x.inter")
                           .status(),
                       StatusCode::kInvalidArgument, "x.inter:2: expected a numeric timestamp"));
}

// ---- MovieLens ratings.dat --------------------------------------------------

TEST(MovieLensReaderTest, ReadsRatingsDat) {
  TempDir dir;
  const std::string text =
      "1::1193::5::978300760\n1::661::3::978302109\n1::914::3::978301968\n"
      "2::1193::5::978298413\n";
  StatusOr<Dataset> data = Read(dir, DatasetFormat::kMovieLensDat, text, "ratings.dat");
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  // User 1 by time: 1193, 914, 661.
  EXPECT_EQ(data->sequences, (Sequences{{1, 2, 3}, {1}}));
}

TEST(MovieLensReaderTest, RejectsMalformedLines) {
  TempDir dir;
  const std::string good = "1::10::5::100\n";
  const std::pair<std::string, std::string> cases[] = {
      {"1::10::5\n", "ratings.dat:2: expected user::item::rating::timestamp, got \"1::10::5\""},
      {"1::10::5::100::7\n", "expected user::item::rating::timestamp"},
      {"1,10,5,100\n", "expected user::item::rating::timestamp"},
      {"-1::10::5::100\n", "ratings.dat:2: expected a positive integer user id, got \"-1\""},
      {"1::ten::5::100\n", "expected a positive integer item id, got \"ten\""},
      {"1::10::5::\n", "expected an integer timestamp, got \"\""},
  };
  for (const auto& [bad, message] : cases) {
    StatusOr<Dataset> data = Read(dir, DatasetFormat::kMovieLensDat, good + bad, "ratings.dat");
    EXPECT_TRUE(HasError(data.status(), StatusCode::kInvalidArgument, message)) << bad;
  }
}

// ---- Generic CSV ------------------------------------------------------------

TEST(CsvReaderTest, ReadsNamedColumnsWithCustomDelimiter) {
  TempDir dir;
  ReaderOptions options;
  options.user_column = "customer";
  options.item_column = "product";
  options.time_column = "when";
  options.delimiter = ';';
  const std::string text =
      "\xEF\xBB\xBF"
      "product;when;customer\r\n"
      "\"a;1\";20;c1\r\n"
      "b;10;c1\r\n"
      "\"a;1\";5;\"c\"\"2\"\r\n";
  StatusOr<Dataset> data = Read(dir, DatasetFormat::kCsv, text, "d.csv", options);
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  EXPECT_EQ(data->sequences, (Sequences{{1, 2}, {2}}));  // c1: b, a;1. c"2: a;1
}

TEST(CsvReaderTest, WithoutTimeColumnKeepsFileOrder) {
  TempDir dir;
  ReaderOptions options;
  options.time_column = "";
  StatusOr<Dataset> data =
      Read(dir, DatasetFormat::kCsv, "user_id,item_id\nu,z\nu,y\nv,y\n", "d.csv", options);
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  EXPECT_EQ(data->sequences, (Sequences{{1, 2}, {2}}));
}

TEST(CsvReaderTest, ReportsRecordStartLinesAfterMultilineFields) {
  TempDir dir;
  const std::string text =
      "user_id,item_id,timestamp\n"
      "u,\"an item\nspanning\nlines\",1\n"
      "u,x,oops\n";
  EXPECT_TRUE(HasError(Read(dir, DatasetFormat::kCsv, text, "d.csv").status(),
                       StatusCode::kInvalidArgument, "d.csv:5: expected a numeric timestamp"));
}

TEST(CsvReaderTest, RejectsMalformedInput) {
  TempDir dir;
  const std::string header = "user_id,item_id,timestamp\n";
  EXPECT_TRUE(
      HasError(Read(dir, DatasetFormat::kCsv, header + "u,x,1\nu,\"open,2\n", "d.csv").status(),
               StatusCode::kInvalidArgument, "d.csv:3: unterminated quoted field"));
  EXPECT_TRUE(HasError(Read(dir, DatasetFormat::kCsv, header + "u,\"x\"y,1\n", "d.csv").status(),
                       StatusCode::kInvalidArgument,
                       "d.csv:2: expected a delimiter after a closing quote, got \"y\""));
  EXPECT_TRUE(
      HasError(Read(dir, DatasetFormat::kCsv, "user,item_id,timestamp\nu,x,1\n", "d.csv").status(),
               StatusCode::kInvalidArgument,
               "d.csv:1: expected a header with a column \"user_id\", found \"user\""));
  ReaderOptions options;
  options.time_column = "ts";
  EXPECT_TRUE(
      HasError(Read(dir, DatasetFormat::kCsv, header + "u,x,1\n", "d.csv", options).status(),
               StatusCode::kInvalidArgument, "set time_column"));
  options = {};
  options.delimiter = '"';
  EXPECT_TRUE(HasError(Read(dir, DatasetFormat::kCsv, header, "d.csv", options).status(),
                       StatusCode::kInvalidArgument, "delimiter"));
}

TEST(CsvReaderTest, HeaderOnlyIsFailedPrecondition) {
  TempDir dir;
  EXPECT_TRUE(
      HasError(Read(dir, DatasetFormat::kCsv, "user_id,item_id,timestamp\n", "d.csv").status(),
               StatusCode::kFailedPrecondition, "contains no interactions"));
}

TEST(CsvReaderTest, UnterminatedQuoteIsBoundedByMaxLineBytes) {
  TempDir dir;
  ReaderOptions options;
  options.max_line_bytes = 4096;
  std::string text = "user_id,item_id,timestamp\nu,\"x";
  for (int i = 0; i < 10000; ++i) text += "\nmore text";
  EXPECT_TRUE(HasError(Read(dir, DatasetFormat::kCsv, text, "d.csv", options).status(),
                       StatusCode::kInvalidArgument, "d.csv:2: quoted field longer than 4096"));
}

}  // namespace
}  // namespace vmle::trainer
