// Buffered line-by-line reading of plain or gzip-compressed files.
//
// Internal to the dataset readers. Gzip is detected by the magic bytes 1f 8b;
// concatenated gzip members are read as one stream. Lines are returned without
// their "\n" or "\r\n" terminator; a last line without a terminator is
// returned too. Memory is bounded by the longest line (at most max_line_bytes).
//
// Thread-safety: not thread-safe; one reader per thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "services/trainer/util/status.h"

namespace vmle::trainer::internal {

// A stream of raw bytes (a plain file or a decompressing gzip stream).
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // Reads up to `size` bytes into `buffer`; 0 at end of stream.
  virtual StatusOr<size_t> Read(char* buffer, size_t size) = 0;
};

// Opens `path`, detecting gzip. NotFound, PermissionDenied, InvalidArgument (a
// directory, or gzip without zlib support: Unimplemented).
StatusOr<std::unique_ptr<ByteSource>> OpenByteSource(const std::string& path);

class LineReader {
 public:
  // Opens `path`; errors as OpenByteSource.
  static StatusOr<std::unique_ptr<LineReader>> Open(const std::string& path,
                                                    int64_t max_line_bytes);

  LineReader(std::unique_ptr<ByteSource> source, std::string path, int64_t max_line_bytes);
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;

  // Sets `*line` to the next line, valid until the next call. Returns false at
  // the end of the input or on an error; then status() tells which.
  bool Next(std::string_view* line);

  // 1-based number of the line last returned by Next().
  int64_t line_number() const { return line_number_; }
  const Status& status() const { return status_; }
  const std::string& path() const { return path_; }
  size_t max_line_bytes() const { return max_line_bytes_; }

 private:
  bool Fill();
  Status LineTooLong() const;

  std::unique_ptr<ByteSource> source_;
  std::string path_;
  size_t max_line_bytes_;
  std::vector<char> buffer_;
  size_t begin_ = 0;    // start of unread data in buffer_
  size_t end_ = 0;      // end of valid data in buffer_
  size_t scanned_ = 0;  // bytes after begin_ known to hold no '\n'
  bool eof_ = false;
  int64_t line_number_ = 0;
  Status status_;
};

// `text` in double quotes for an error message: non-printable bytes as \xNN,
// cut to at most 40 bytes of input with "..." appended when longer.
std::string QuoteForMessage(std::string_view text);

// InvalidArgument "path:line: what".
Status LineError(const std::string& path, int64_t line, const std::string& what);

}  // namespace vmle::trainer::internal
