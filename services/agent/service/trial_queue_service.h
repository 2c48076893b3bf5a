// vmle.v1.TrialQueue over a StudyManager: a thin adapter. LeaseTrial is served with
// gRPC's callback API: a call waiting for a trial holds no server thread, only its
// place in the lease queue's line (LeaseQueue::LeaseAsync, lease_queue.h), until a trial is
// leased to it, its wait ends or its caller goes away. A caller may hold at most
// `max_long_polls_per_caller` waiting calls at once (RESOURCE_EXHAUSTED beyond). The
// other methods answer at once, on the synchronous server's threads.
#pragma once

#include "services/agent/service/caller_slots.h"
#include "services/agent/study/study_manager.h"
#include "vmle/v1/trial_queue.grpc.pb.h"

namespace vmle::agent {

class TrialQueueImpl final : public vmle::v1::TrialQueue::WithCallbackMethod_LeaseTrial<vmle::v1::TrialQueue::Service> {
 public:
  // `manager` is not owned and must outlive the service's server.
  explicit TrialQueueImpl(StudyManager* manager, int max_long_polls_per_caller = kDefaultMaxLongPollsPerCaller)
      : manager_(*manager),
        long_polls_(max_long_polls_per_caller, "LeaseTrial long-polls", "--max_long_polls_per_caller") {}

  // Enough for every worker of a large cluster sharing one token.
  static constexpr int kDefaultMaxLongPollsPerCaller = 1024;

  grpc::ServerUnaryReactor* LeaseTrial(grpc::CallbackServerContext* context,
                                       const vmle::v1::LeaseTrialRequest* request,
                                       vmle::v1::LeaseTrialResponse* response) override;
  grpc::Status ReportProgress(grpc::ServerContext* context, const vmle::v1::ReportProgressRequest* request,
                              vmle::v1::ReportProgressResponse* response) override;
  grpc::Status Heartbeat(grpc::ServerContext* context, const vmle::v1::HeartbeatRequest* request,
                         vmle::v1::HeartbeatResponse* response) override;
  grpc::Status CompleteTrial(grpc::ServerContext* context, const vmle::v1::CompleteTrialRequest* request,
                             vmle::v1::CompleteTrialResponse* response) override;
  grpc::Status FailTrial(grpc::ServerContext* context, const vmle::v1::FailTrialRequest* request,
                         vmle::v1::FailTrialResponse* response) override;

 private:
  StudyManager& manager_;
  CallerSlots long_polls_;
};

}  // namespace vmle::agent
