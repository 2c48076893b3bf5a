#include "services/trainer/data/internal/line_reader.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#ifdef VMLE_TRAINER_DATA_HAVE_ZLIB
#include <zlib.h>
#endif

namespace vmle::trainer::internal {
namespace {

constexpr size_t kInitialBuffer = size_t{1} << 20;
constexpr size_t kMinRead = size_t{1} << 16;

Status OpenError(const std::string& path, int error) {
  const std::string reason = std::strerror(error);
  if (error == ENOENT || error == ENOTDIR) {
    return NotFoundError(path + ": no such file (" + reason + ")");
  }
  if (error == EACCES || error == EPERM) {
    return PermissionDeniedError(path + ": cannot open for reading (" + reason + ")");
  }
  return UnavailableError(path + ": cannot open (" + reason + ")");
}

class PlainSource final : public ByteSource {
 public:
  PlainSource(std::FILE* file, std::string path) : file_(file), path_(std::move(path)) {}
  ~PlainSource() override { std::fclose(file_); }

  StatusOr<size_t> Read(char* buffer, size_t size) override {
    const size_t n = std::fread(buffer, 1, size, file_);
    if (n == 0 && std::ferror(file_)) {
      return DataLossError(path_ + ": read error (" + std::strerror(errno) + ")");
    }
    return n;
  }

 private:
  std::FILE* file_;
  std::string path_;
};

#ifdef VMLE_TRAINER_DATA_HAVE_ZLIB
class GzipSource final : public ByteSource {
 public:
  GzipSource(gzFile file, std::string path) : file_(file), path_(std::move(path)) {}
  ~GzipSource() override { gzclose(file_); }

  StatusOr<size_t> Read(char* buffer, size_t size) override {
    const unsigned chunk = static_cast<unsigned>(std::min<size_t>(size, 1u << 30));
    const int n = gzread(file_, buffer, chunk);
    int code = Z_OK;
    const char* message = gzerror(file_, &code);
    if (n < 0 || (code != Z_OK && code != Z_STREAM_END)) {
      return InvalidArgumentError(path_ + ": corrupt or truncated gzip data (" +
                                  (message ? message : "unknown zlib error") + ")");
    }
    return static_cast<size_t>(n);
  }

 private:
  gzFile file_;
  std::string path_;
};
#endif

StatusOr<std::unique_ptr<ByteSource>> OpenGzip(const std::string& path) {
#ifdef VMLE_TRAINER_DATA_HAVE_ZLIB
  errno = 0;
  gzFile gz = gzopen(path.c_str(), "rb");
  if (gz == nullptr) return OpenError(path, errno != 0 ? errno : ENOMEM);
  gzbuffer(gz, 1u << 18);
  return std::unique_ptr<ByteSource>(new GzipSource(gz, path));
#else
  return Status(StatusCode::kUnimplemented,
                path +
                    ": is gzip-compressed but this build has no zlib support; "
                    "decompress it first (gunzip) or rebuild with zlib");
#endif
}

}  // namespace

StatusOr<std::unique_ptr<ByteSource>> OpenByteSource(const std::string& path) {
  struct stat info;
  if (::stat(path.c_str(), &info) != 0) return OpenError(path, errno);
  if (S_ISDIR(info.st_mode)) {
    return InvalidArgumentError(path + ": is a directory, expected a dataset file");
  }
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) return OpenError(path, errno);
  unsigned char magic[2] = {0, 0};
  const size_t n = std::fread(magic, 1, 2, file);
  const bool gzip = n == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
  if (gzip) {
    std::fclose(file);
    return OpenGzip(path);
  }
  std::rewind(file);
  return std::unique_ptr<ByteSource>(new PlainSource(file, path));
}

StatusOr<std::unique_ptr<LineReader>> LineReader::Open(const std::string& path,
                                                       int64_t max_line_bytes) {
  TRAINER_ASSIGN_OR_RETURN(std::unique_ptr<ByteSource> source, OpenByteSource(path));
  return std::make_unique<LineReader>(std::move(source), path, max_line_bytes);
}

LineReader::LineReader(std::unique_ptr<ByteSource> source, std::string path, int64_t max_line_bytes)
    : source_(std::move(source)),
      path_(std::move(path)),
      max_line_bytes_(static_cast<size_t>(std::max<int64_t>(1, max_line_bytes))),
      buffer_(std::min(kInitialBuffer, max_line_bytes_ + kMinRead)) {}

bool LineReader::Next(std::string_view* line) {
  if (!status_.ok()) return false;
  for (;;) {
    const char* data = buffer_.data();
    const void* nl = std::memchr(data + begin_ + scanned_, '\n', end_ - begin_ - scanned_);
    size_t stop = end_;
    if (nl != nullptr) {
      stop = static_cast<size_t>(static_cast<const char*>(nl) - data);
    } else if (!eof_ || begin_ == end_) {
      scanned_ = end_ - begin_;
      if (eof_) return false;
      if (!Fill()) return false;
      continue;
    }
    size_t length = stop - begin_;
    if (length > max_line_bytes_) break;
    if (length > 0 && data[begin_ + length - 1] == '\r') --length;
    *line = std::string_view(data + begin_, length);
    begin_ = std::min(stop + 1, end_);
    scanned_ = 0;
    ++line_number_;
    return true;
  }
  status_ = LineTooLong();
  return false;
}

Status LineReader::LineTooLong() const {
  return LineError(path_, line_number_ + 1,
                   "line longer than " + std::to_string(max_line_bytes_) +
                       " bytes; is this the right dataset format?");
}

// Makes room and reads more input; false on error or an overlong line.
bool LineReader::Fill() {
  const size_t pending = end_ - begin_;
  if (pending > max_line_bytes_) {
    status_ = LineTooLong();
    return false;
  }
  if (begin_ > 0) {
    std::memmove(buffer_.data(), buffer_.data() + begin_, pending);
    begin_ = 0;
    end_ = pending;
  }
  if (buffer_.size() - end_ < kMinRead) {
    buffer_.resize(std::max(buffer_.size() * 2, end_ + kMinRead));
  }
  StatusOr<size_t> n = source_->Read(buffer_.data() + end_, buffer_.size() - end_);
  if (!n.ok()) {
    status_ = n.status();
    return false;
  }
  if (*n == 0) eof_ = true;
  end_ += *n;
  return true;
}

std::string QuoteForMessage(std::string_view text) {
  constexpr size_t kMaxShown = 40;
  std::string out = "\"";
  for (size_t i = 0; i < text.size() && i < kMaxShown; ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      char hex[5];
      std::snprintf(hex, sizeof(hex), "\\x%02x", c);
      out += hex;
    }
  }
  out += '"';
  if (text.size() > kMaxShown) out += "...";
  return out;
}

Status LineError(const std::string& path, int64_t line, const std::string& what) {
  return InvalidArgumentError(path + ":" + std::to_string(line) + ": " + what);
}

}  // namespace vmle::trainer::internal
