#include "services/agent/service/trial_queue_service.h"

#include <atomic>
#include <optional>
#include <utility>

#include "common/auth/caller.h"
#include "common/status/grpc_status.h"

namespace vmle::agent {
namespace {

// One LeaseTrial call from its start to its answer; deleted when gRPC is done with
// the call. Its caller slot is released as it is answered, so a caller at its cap may
// poll again at once. gRPC holds back a Finish made before the
// handler returns (the answer may come from a lease thread at once), so the call,
// its context and this object outlive Start.
class LeaseReactor final : public grpc::ServerUnaryReactor {
 public:
  LeaseReactor(StudyManager& manager, CallerSlots::Slot slot, vmle::v1::LeaseTrialResponse* response)
      : manager_(manager), slot_(std::move(slot)), response_(response) {}

  void Start(const vmle::v1::LeaseTrialRequest& request, grpc::CallbackServerContext* context) {
    ticket_.store(manager_.trial_queue().LeaseAsync(
        request,
        [this](absl::StatusOr<vmle::v1::LeaseTrialResponse> result) {
          slot_.reset();
          if (result.ok()) *response_ = *std::move(result);
          Finish(result.ok() ? grpc::Status::OK : ToGrpcStatus(result.status()));
        },
        // Valid while the call waits: it is answered only once out of the line.
        [context] { return context->IsCancelled(); }));
    // A caller that went before the ticket was stored.
    if (context->IsCancelled()) manager_.trial_queue().CancelLease(ticket_.load());
  }

  void OnCancel() override { manager_.trial_queue().CancelLease(ticket_.load()); }
  void OnDone() override { delete this; }

 private:
  StudyManager& manager_;
  std::optional<CallerSlots::Slot> slot_;
  vmle::v1::LeaseTrialResponse* const response_;
  std::atomic<uint64_t> ticket_{0};
};

}  // namespace

grpc::ServerUnaryReactor* TrialQueueImpl::LeaseTrial(grpc::CallbackServerContext* context,
                                                     const vmle::v1::LeaseTrialRequest* request,
                                                     vmle::v1::LeaseTrialResponse* response) {
  absl::StatusOr<CallerSlots::Slot> slot = long_polls_.Acquire(auth::CallerOf(context));
  if (!slot.ok()) {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(ToGrpcStatus(slot.status()));
    return reactor;
  }
  auto* reactor = new LeaseReactor(manager_, *std::move(slot), response);
  reactor->Start(*request, context);
  return reactor;
}
grpc::Status TrialQueueImpl::ReportProgress(grpc::ServerContext*, const vmle::v1::ReportProgressRequest* request,
                                            vmle::v1::ReportProgressResponse* response) {
  return Reply(manager_.trial_queue().Progress(*request), response);
}

grpc::Status TrialQueueImpl::Heartbeat(grpc::ServerContext*, const vmle::v1::HeartbeatRequest* request,
                                       vmle::v1::HeartbeatResponse* response) {
  return Reply(manager_.trial_queue().Heartbeat(*request), response);
}

grpc::Status TrialQueueImpl::CompleteTrial(grpc::ServerContext*, const vmle::v1::CompleteTrialRequest* request,
                                           vmle::v1::CompleteTrialResponse*) {
  return ToGrpcStatus(manager_.trial_queue().Complete(*request));
}

grpc::Status TrialQueueImpl::FailTrial(grpc::ServerContext*, const vmle::v1::FailTrialRequest* request,
                                       vmle::v1::FailTrialResponse*) {
  return ToGrpcStatus(manager_.trial_queue().Fail(*request));
}

}  // namespace vmle::agent
