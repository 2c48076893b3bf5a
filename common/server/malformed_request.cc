#include "common/server/malformed_request.h"

#include <mutex>
#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "common/logging/logging.h"
#include "common/status/message.h"
#include "google/protobuf/stubs/common.h"
#include "google/protobuf/stubs/logging.h"

namespace vmle {
namespace {

// The field of the last string protobuf refused as invalid UTF-8 on this thread.
thread_local std::string refused_field;

void ProtobufLog(google::protobuf::LogLevel level, const char* filename, int line, const std::string& message) {
  // "String field 'vmle.v1.DatasetSpec.name' contains invalid UTF-8 data when parsing ..."
  constexpr std::string_view kPrefix = "String field '";
  if (message.rfind(kPrefix, 0) == 0 && message.find("invalid UTF-8") != std::string::npos) {
    const size_t end = message.find('\'', kPrefix.size());
    if (end != std::string::npos) {
      refused_field = message.substr(kPrefix.size(), end - kPrefix.size());
      return;  // answered to the caller; not worth a log line per bad request
    }
  }
  log::Write(level >= google::protobuf::LOGLEVEL_ERROR ? log::Level::kError : log::Level::kWarn, "protobuf",
             {{"source", absl::StrCat(filename, ":", line)}, {"message", message}});
}

class MalformedRequestInterceptor final : public grpc::experimental::Interceptor {
 public:
  explicit MalformedRequestInterceptor(grpc::experimental::ServerRpcInfo* info)
      : method_(info->method() != nullptr ? info->method() : "") {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    using grpc::experimental::InterceptionHookPoints;
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE)) {
      // Parsed just before this hook, on this thread; null when it did not parse.
      unparsed_ = methods->GetRecvMessage() == nullptr;
      if (unparsed_) field_ = refused_field;
      refused_field.clear();
    }
    if (unparsed_ && methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      const grpc::Status status = methods->GetSendStatus();
      // The synchronous API answers INTERNAL, the callback API UNIMPLEMENTED.
      if ((status.error_code() == grpc::StatusCode::INTERNAL ||
           status.error_code() == grpc::StatusCode::UNIMPLEMENTED) &&
          status.error_message().empty()) {
        methods->ModifySendStatus(grpc::Status(
            grpc::StatusCode::INVALID_ARGUMENT,
            field_.empty()
                ? absl::StrCat("request: the bytes are not a valid request of ", TruncateForMessage(method_, 200),
                               " (malformed, or a string field that is not UTF-8)")
                : absl::StrCat(TruncateForMessage(field_, 200),
                               ": not valid UTF-8 (a string field; send text, or bytes where the API takes bytes)")));
      }
    }
    methods->Proceed();
  }

 private:
  std::string method_;
  bool unparsed_ = false;
  std::string field_;
};

class MalformedRequestInterceptorFactory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  grpc::experimental::Interceptor* CreateServerInterceptor(grpc::experimental::ServerRpcInfo* info) override {
    return new MalformedRequestInterceptor(info);
  }
};

}  // namespace

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> MakeMalformedRequestInterceptorFactory() {
  static std::once_flag installed;
  std::call_once(installed, [] { google::protobuf::SetLogHandler(&ProtobufLog); });
  return std::make_unique<MalformedRequestInterceptorFactory>();
}

}  // namespace vmle
