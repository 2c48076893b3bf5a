// An in-process cluster for the agent's tests: a real memory service (RocksDB in a
// temporary directory, gRPC on a loopback port), the agent's StudyManager behind its
// gRPC services on another port, and simulated workers. The agent can be stopped and
// started again on the same memory service, as after a crash.
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "services/agent/service/study_service.h"
#include "services/agent/service/trial_queue_service.h"
#include "services/sim/sim_worker.h"
#include "services/agent/study/memory_client.h"
#include "services/agent/study/study_manager.h"
#include "services/memory/memory_service.h"
#include "services/memory/store/memory_store.h"
#include "services/memory/store/slow_disk.h"
#include "rocksdb/env.h"
#include "tests/util/subprocess.h"

namespace vmle::agent::testing {

MATCHER_P2(StatusIs, code, substring, "") {
  const absl::Status status = arg;
  *result_listener << "the status is " << status;
  return status.code() == code && absl::StrContains(status.message(), substring);
}

inline std::unique_ptr<grpc::Server> Serve(std::vector<grpc::Service*> services, int* port) {
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), port);
  for (grpc::Service* s : services) builder.RegisterService(s);
  return builder.BuildAndStart();
}

class InProcessCluster {
 public:
  InProcessCluster() : dir_(vmle::testing::MakeTempDir()) { StartMemory(); }
  // A memory service that syncs every write, each WAL sync taking `sync_delay` longer
  // (a slow disk: concurrent writes queue up).
  explicit InProcessCluster(absl::Duration sync_delay) : dir_(vmle::testing::MakeTempDir()) {
    slow_disk_ = std::make_shared<memory::SlowSyncFileSystem>(sync_delay);
    slow_env_ = rocksdb::NewCompositeEnv(slow_disk_);
    StartMemory();
  }
  ~InProcessCluster() {
    StopWorkers();
    StopAgent();
    StopMemory();
  }

  void StartMemory() {
    memory::MemoryStoreOptions options;
    options.path = dir_ + "/db";
    options.sync_writes = slow_env_ != nullptr;
    options.env = slow_env_.get();
    auto store = memory::MemoryStore::Open(options);
    ASSERT_TRUE(store.ok()) << store.status();
    memory_service_ = std::make_unique<memory::MemoryServiceImpl>(std::move(*store));
    memory_server_ = Serve({memory_service_.get()}, &memory_port_);
    ASSERT_NE(memory_server_, nullptr);
  }
  void StopMemory() {
    if (memory_server_) memory_server_->Shutdown(std::chrono::system_clock::now());
    memory_server_.reset();
    memory_service_.reset();
  }

  // Starts an agent on the memory service; `options.memory` is filled in.
  void StartAgent(StudyManager::Options options = DefaultOptions()) {
    memory_client_ = std::make_unique<MemoryClient>(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", memory_port_), grpc::InsecureChannelCredentials()),
        MemoryClient::Options{});
    options.memory = memory_client_.get();
    auto manager = StudyManager::Start(options);
    ASSERT_TRUE(manager.ok()) << manager.status();
    manager_ = std::move(*manager);
    // The manager answers UNAVAILABLE until it has reloaded the unfinished studies.
    for (int i = 0; i < 500 && absl::IsUnavailable(manager_->ListStudies({}).status()); ++i) {
      absl::SleepFor(absl::Milliseconds(10));
    }
    study_service_ = std::make_unique<StudyServiceImpl>(manager_.get());
    queue_service_ = std::make_unique<TrialQueueImpl>(manager_.get());
    agent_server_ = Serve({study_service_.get(), queue_service_.get()}, &agent_port_);
    ASSERT_NE(agent_server_, nullptr);
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", agent_port_), grpc::InsecureChannelCredentials());
    studies_ = vmle::v1::StudyService::NewStub(channel_);
  }
  // Stops the agent at once: running trials stay leased in the memory service.
  void StopAgent() {
    if (manager_) manager_->Stop();
    if (agent_server_) agent_server_->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(100));
    agent_server_.reset();
    study_service_.reset();
    queue_service_.reset();
    manager_.reset();
    memory_client_.reset();
  }

  static StudyManager::Options DefaultOptions() {
    StudyManager::Options options;
    options.lease_duration = absl::Seconds(5);
    options.heartbeat_interval = absl::Seconds(1);
    options.sweep_interval = absl::Milliseconds(50);
    return options;
  }

  void AddWorkers(int n, absl::Duration epoch_time, const std::string& prefix = "w",
                  absl::Duration progress_interval = absl::ZeroDuration()) {
    for (int i = 0; i < n; ++i) {
      sim::SimWorkerOptions options;
      options.worker_id = absl::StrCat(prefix, "-", workers_.size());
      options.epoch_time = epoch_time;
      options.progress_interval = progress_interval;
      options.wait_seconds = 1;
      options.retry_backoff = absl::Milliseconds(50);
      workers_.push_back(std::make_unique<sim::SimWorker>(
          grpc::CreateChannel(absl::StrCat("127.0.0.1:", agent_port_), grpc::InsecureChannelCredentials()),
          options));
      workers_.back()->Start();
    }
  }
  void StopWorkers() {
    for (auto& w : workers_) w->Stop();
  }

  StudyManager& manager() { return *manager_; }
  vmle::v1::StudyService::Stub& studies() { return *studies_; }
  std::shared_ptr<grpc::Channel> agent_channel() { return channel_; }
  const std::vector<std::unique_ptr<sim::SimWorker>>& workers() const { return workers_; }
  int agent_port() const { return agent_port_; }
  int memory_port() const { return memory_port_; }

  // Waits until the study has ended (or `timeout` passes) and returns it.
  absl::StatusOr<vmle::v1::Study> WaitForEnd(const std::string& study_id, absl::Duration timeout) {
    return WaitFor(
        study_id,
        [](const vmle::v1::Study& study) {
          const auto s = study.state();
          return (s == vmle::v1::STUDY_STATE_SUCCEEDED || s == vmle::v1::STUDY_STATE_FAILED ||
                  s == vmle::v1::STUDY_STATE_CANCELLED) &&
                 study.trials_running() == 0;
        },
        timeout, "study did not end");
  }

  // The study once `done` holds for it; DEADLINE_EXCEEDED with `what` after `timeout`.
  absl::StatusOr<vmle::v1::Study> WaitFor(const std::string& study_id,
                                          const std::function<bool(const vmle::v1::Study&)>& done,
                                          absl::Duration timeout = absl::Seconds(60),
                                          const std::string& what = "condition not reached") {
    const absl::Time deadline = absl::Now() + timeout;
    for (;;) {
      absl::StatusOr<vmle::v1::Study> study = manager_->GetStudy(study_id);
      if (!study.ok() || done(*study)) return study;
      if (absl::Now() > deadline) return absl::DeadlineExceededError(what + ": " + study->DebugString());
      absl::SleepFor(absl::Milliseconds(10));
    }
  }

 private:
  std::string dir_;
  std::shared_ptr<memory::SlowSyncFileSystem> slow_disk_;
  std::unique_ptr<rocksdb::Env> slow_env_;
  std::unique_ptr<memory::MemoryServiceImpl> memory_service_;
  std::unique_ptr<grpc::Server> memory_server_;
  int memory_port_ = 0;
  std::unique_ptr<MemoryClient> memory_client_;
  std::unique_ptr<StudyManager> manager_;
  std::unique_ptr<StudyServiceImpl> study_service_;
  std::unique_ptr<TrialQueueImpl> queue_service_;
  std::unique_ptr<grpc::Server> agent_server_;
  int agent_port_ = 0;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<vmle::v1::StudyService::Stub> studies_;
  std::vector<std::unique_ptr<sim::SimWorker>> workers_;
};

// A small valid spec on a simulated dataset.
inline vmle::v1::StudySpec SimSpec(const std::string& planner, int trials, int parallelism) {
  vmle::v1::StudySpec spec;
  spec.set_name("sim " + planner);
  spec.mutable_dataset()->set_format(vmle::v1::DATASET_FORMAT_SYNTHETIC);
  spec.mutable_dataset()->set_name("sim-beauty");
  spec.set_backbone(vmle::v1::BACKBONE_SASREC);
  spec.mutable_budget()->set_max_trials(trials);
  spec.mutable_budget()->set_parallelism(parallelism);
  spec.mutable_planner()->set_name(planner);
  spec.set_seed(7);
  return spec;
}

}  // namespace vmle::agent::testing
