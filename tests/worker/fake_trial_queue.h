// A scripted TrialQueue served in process on 127.0.0.1 (the agent's side of the
// worker protocol, for the worker tests).
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "vmle/v1/trial_queue.grpc.pb.h"

namespace vmle::worker::testing {

// What the fake agent does besides handing out its assignments in order.
struct Script {
  // LeaseTrial calls answered UNAVAILABLE before the first real answer.
  int unavailable_leases = 0;
  // Heartbeat answers FAILED_PRECONDITION (the lease expired).
  bool heartbeat_lease_lost = false;
  // Heartbeat answers stop (the study was cancelled).
  bool heartbeat_stop = false;
  // ReportProgress answers ACTION_STOP from this epoch on; 0 never.
  int stop_at_epoch = 0;
  // ReportProgress answers only once a heartbeat has arrived, so that a trial
  // certainly lives through one.
  bool progress_waits_for_heartbeat = false;
  // ReportProgress for this trial never answers (until the call is cancelled).
  std::string hang_progress_of;
  // ReportProgress calls answered UNAVAILABLE (recorded, not stored) before the
  // first real answer.
  int unavailable_progress = 0;
};

// A TrialQueue that hands out queued assignments and records every call.
class FakeTrialQueue final : public vmle::v1::TrialQueue::Service {
 public:
  explicit FakeTrialQueue(Script script) : script_(script) {}

  void Queue(const vmle::v1::TrialAssignment& assignment) {
    absl::MutexLock lock(&mu_);
    queued_.push_back(assignment);
  }

  // Waits up to 20 s for `done` to hold over the recorded calls.
  bool WaitFor(const std::function<bool(const FakeTrialQueue&)>& done) {
    const absl::Time until = absl::Now() + absl::Seconds(20);
    absl::MutexLock lock(&mu_);
    while (!done(*this)) {
      if (absl::Now() > until) return false;
      Pause();
    }
    return true;
  }

  // Guards the recorded calls.
  mutable absl::Mutex mu_;
  // Recorded calls; read under WaitFor or mu_.
  std::vector<vmle::v1::LeaseTrialRequest> leases ABSL_GUARDED_BY(mu_);
  std::vector<vmle::v1::ReportProgressRequest> progress ABSL_GUARDED_BY(mu_);
  std::vector<vmle::v1::HeartbeatRequest> heartbeats ABSL_GUARDED_BY(mu_);
  std::vector<vmle::v1::CompleteTrialRequest> completed ABSL_GUARDED_BY(mu_);
  std::vector<vmle::v1::FailTrialRequest> failed ABSL_GUARDED_BY(mu_);

  grpc::Status LeaseTrial(grpc::ServerContext* context, const vmle::v1::LeaseTrialRequest* request,
                          vmle::v1::LeaseTrialResponse* response) override {
    const absl::Time until = absl::Now() + absl::Seconds(request->wait_seconds());
    absl::MutexLock lock(&mu_);
    leases.push_back(*request);
    if (unavailable_answered_ < script_.unavailable_leases) {
      ++unavailable_answered_;
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "agent starting");
    }
    while (queued_.empty() && absl::Now() < until && !context->IsCancelled()) {
      Pause();
    }
    if (!queued_.empty()) {
      *response->mutable_assignment() = queued_.front();
      queued_.pop_front();
    }
    return grpc::Status::OK;
  }

  grpc::Status ReportProgress(grpc::ServerContext* context, const vmle::v1::ReportProgressRequest* request,
                              vmle::v1::ReportProgressResponse* response) override {
    absl::MutexLock lock(&mu_);
    progress.push_back(*request);
    if (progress_unavailable_answered_ < script_.unavailable_progress) {
      ++progress_unavailable_answered_;
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "agent restarting");
    }
    const absl::Time until = absl::Now() + absl::Seconds(20);
    const bool hang = !script_.hang_progress_of.empty() && request->trial_id() == script_.hang_progress_of;
    while (((script_.progress_waits_for_heartbeat && heartbeats.empty()) || hang) &&
           !context->IsCancelled() && absl::Now() < until) {
      Pause();
    }
    const bool stop = script_.stop_at_epoch > 0 && request->epoch().epoch() >= script_.stop_at_epoch;
    response->set_action(stop ? vmle::v1::ReportProgressResponse::ACTION_STOP
                              : vmle::v1::ReportProgressResponse::ACTION_CONTINUE);
    return grpc::Status::OK;
  }

  grpc::Status Heartbeat(grpc::ServerContext*, const vmle::v1::HeartbeatRequest* request,
                         vmle::v1::HeartbeatResponse* response) override {
    absl::MutexLock lock(&mu_);
    heartbeats.push_back(*request);
    if (script_.heartbeat_lease_lost) {
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "lease expired");
    }
    response->set_stop(script_.heartbeat_stop);
    return grpc::Status::OK;
  }

  grpc::Status CompleteTrial(grpc::ServerContext*, const vmle::v1::CompleteTrialRequest* request,
                             vmle::v1::CompleteTrialResponse*) override {
    absl::MutexLock lock(&mu_);
    completed.push_back(*request);
    return grpc::Status::OK;
  }

  grpc::Status FailTrial(grpc::ServerContext*, const vmle::v1::FailTrialRequest* request,
                         vmle::v1::FailTrialResponse*) override {
    absl::MutexLock lock(&mu_);
    failed.push_back(*request);
    return grpc::Status::OK;
  }

 private:
  // Lets other calls in for a moment.
  void Pause() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { changed_.WaitWithTimeout(&mu_, absl::Milliseconds(10)); }

  const Script script_;
  absl::CondVar changed_;
  std::deque<vmle::v1::TrialAssignment> queued_ ABSL_GUARDED_BY(mu_);
  int unavailable_answered_ ABSL_GUARDED_BY(mu_) = 0;
  int progress_unavailable_answered_ ABSL_GUARDED_BY(mu_) = 0;
};

// The fake agent's server on `port` (0: any free port).
struct FakeAgent {
  explicit FakeAgent(Script script, int port = 0) : queue(script) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:" + std::to_string(port), grpc::InsecureServerCredentials(),
                             &this->port);
    builder.RegisterService(&queue);
    server = builder.BuildAndStart();
  }
  ~FakeAgent() {
    if (server != nullptr) server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  }

  FakeTrialQueue queue;
  int port = 0;
  std::unique_ptr<grpc::Server> server;
};

}  // namespace vmle::worker::testing
