// libFuzzer target: every dataset reader of services/trainer/data/readers.h.
// Input: byte 0 picks the format and the preprocessing options, the rest is the
// file (gzip too: the reader goes by magic bytes). The file lives in a memfd read
// through /proc/self/fd, so runs touch no disk. Contract checked beyond "no crash":
// a refusal has one of the codes readers.h documents.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "services/trainer/data/readers.h"

namespace {

using vmle::trainer::DatasetFormat;
using vmle::trainer::StatusCode;

constexpr DatasetFormat kFormats[] = {DatasetFormat::kSequential,   DatasetFormat::kAmazon2014Json,
                                      DatasetFormat::kAmazon2023Csv, DatasetFormat::kRecBoleInter,
                                      DatasetFormat::kMovieLensDat, DatasetFormat::kCsv};

bool Documented(StatusCode code) {
  return code == StatusCode::kInvalidArgument || code == StatusCode::kFailedPrecondition ||
         code == StatusCode::kResourceExhausted;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t control = data[0];
  vmle::trainer::ReaderOptions options;
  options.k_core = (control >> 3) & 3;
  options.max_length = (control & 0x20) ? 3 : 0;
  options.min_length = (control & 0x40) ? 2 : 0;
  options.max_line_bytes = (control & 0x80) ? 64 : int64_t{1} << 20;
  if (control & 0x80) {
    options.delimiter = ';';
    options.time_column.clear();
  }
  const DatasetFormat format = kFormats[(control & 7) % 6];

  const int fd = memfd_create("dataset", 0);
  if (fd < 0) std::abort();
  for (size_t written = 1; written < size;) {
    const ssize_t n = write(fd, data + written, size - written);
    if (n <= 0) std::abort();
    written += static_cast<size_t>(n);
  }
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  auto dataset = vmle::trainer::ReadDataset(path, format, options);
  close(fd);
  if (!dataset.ok() && !Documented(dataset.status().code())) {
    std::fprintf(stderr, "undocumented error code %d: %s\n", static_cast<int>(dataset.status().code()),
                 dataset.status().message().c_str());
    std::abort();
  }
  return 0;
}
