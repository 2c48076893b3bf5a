#include "services/agent/service/trial_queue_service.h"

#include "common/auth/caller.h"
#include "common/status/grpc_status.h"

namespace vmle::agent {

grpc::Status TrialQueueImpl::LeaseTrial(grpc::ServerContext* context, const vmle::v1::LeaseTrialRequest* request,
                                        vmle::v1::LeaseTrialResponse* response) {
  absl::StatusOr<CallerSlots::Slot> slot = long_polls_.Acquire(auth::CallerOf(context));
  if (!slot.ok()) return ToGrpcStatus(slot.status());
  return Reply(manager_.Lease(*request, [context] { return context->IsCancelled(); }), response);
}

grpc::Status TrialQueueImpl::ReportProgress(grpc::ServerContext*, const vmle::v1::ReportProgressRequest* request,
                                            vmle::v1::ReportProgressResponse* response) {
  return Reply(manager_.Progress(*request), response);
}

grpc::Status TrialQueueImpl::Heartbeat(grpc::ServerContext*, const vmle::v1::HeartbeatRequest* request,
                                       vmle::v1::HeartbeatResponse* response) {
  return Reply(manager_.Heartbeat(*request), response);
}

grpc::Status TrialQueueImpl::CompleteTrial(grpc::ServerContext*, const vmle::v1::CompleteTrialRequest* request,
                                           vmle::v1::CompleteTrialResponse*) {
  return ToGrpcStatus(manager_.Complete(*request));
}

grpc::Status TrialQueueImpl::FailTrial(grpc::ServerContext*, const vmle::v1::FailTrialRequest* request,
                                       vmle::v1::FailTrialResponse*) {
  return ToGrpcStatus(manager_.Fail(*request));
}

}  // namespace vmle::agent
