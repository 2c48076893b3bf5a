// MemoryServiceImpl: the gRPC face of the memory store (protos/vmle/v1/
// memory_service.proto). A thin adapter: each method hands the request to MemoryStore
// and returns its reply, or its error with the same code and message
// (vmle::ToGrpcStatus). Thread-safe, like the store.
#pragma once

#include <memory>
#include <utility>

#include "services/memory/store/memory_store.h"
#include "vmle/v1/memory_service.grpc.pb.h"

namespace vmle::memory {

class MemoryServiceImpl final : public v1::MemoryService::Service {
 public:
  // `store` is not owned and must outlive the service.
  explicit MemoryServiceImpl(MemoryStore* store) : store_(store) {}
  // Owns `store` (a process's service, destroyed before its metrics registry).
  explicit MemoryServiceImpl(std::unique_ptr<MemoryStore> store)
      : owned_(std::move(store)), store_(owned_.get()) {}

  grpc::Status PutStudy(grpc::ServerContext* context, const v1::PutStudyRequest* request,
                        v1::PutStudyResponse* response) override;
  grpc::Status GetStudy(grpc::ServerContext* context, const v1::GetStudyRecordRequest* request,
                        v1::Study* response) override;
  grpc::Status ListStudies(grpc::ServerContext* context, const v1::ListStudyRecordsRequest* request,
                           v1::ListStudyRecordsResponse* response) override;
  grpc::Status PutTrial(grpc::ServerContext* context, const v1::PutTrialRequest* request,
                        v1::PutTrialResponse* response) override;
  grpc::Status GetTrial(grpc::ServerContext* context, const v1::GetTrialRequest* request,
                        v1::Trial* response) override;
  grpc::Status ListTrials(grpc::ServerContext* context, const v1::ListTrialRecordsRequest* request,
                          v1::ListTrialRecordsResponse* response) override;
  grpc::Status CommitTrialResult(grpc::ServerContext* context,
                                 const v1::CommitTrialResultRequest* request,
                                 v1::CommitTrialResultResponse* response) override;
  grpc::Status AppendEvents(grpc::ServerContext* context, const v1::AppendEventsRequest* request,
                            v1::AppendEventsResponse* response) override;
  grpc::Status ListEvents(grpc::ServerContext* context, const v1::ListEventsRequest* request,
                          v1::ListEventsResponse* response) override;
  grpc::Status PutReflection(grpc::ServerContext* context, const v1::PutReflectionRequest* request,
                             v1::PutReflectionResponse* response) override;
  grpc::Status ListReflections(grpc::ServerContext* context,
                               const v1::ListReflectionsRequest* request,
                               v1::ListReflectionsResponse* response) override;
  grpc::Status PutInsights(grpc::ServerContext* context, const v1::PutInsightsRequest* request,
                           v1::PutInsightsResponse* response) override;
  grpc::Status GetInsights(grpc::ServerContext* context, const v1::GetInsightsRequest* request,
                           v1::WorkingInsights* response) override;
  grpc::Status PutCognitionSummary(grpc::ServerContext* context,
                                   const v1::PutCognitionSummaryRequest* request,
                                   v1::PutCognitionSummaryResponse* response) override;
  grpc::Status GetCognitionSummary(grpc::ServerContext* context,
                                   const v1::GetCognitionSummaryRequest* request,
                                   v1::CognitionSummary* response) override;
  grpc::Status ListCognitionSummaries(grpc::ServerContext* context,
                                      const v1::ListCognitionSummariesRequest* request,
                                      v1::ListCognitionSummariesResponse* response) override;
  grpc::Status RetrieveCognition(grpc::ServerContext* context,
                                 const v1::RetrieveCognitionRequest* request,
                                 v1::RetrieveCognitionResponse* response) override;
  grpc::Status ExportCognition(grpc::ServerContext* context,
                               const v1::ExportCognitionRequest* request,
                               v1::ExportCognitionResponse* response) override;
  grpc::Status ImportCognition(grpc::ServerContext* context,
                               const v1::ImportCognitionRequest* request,
                               v1::ImportCognitionResponse* response) override;
  grpc::Status Backup(grpc::ServerContext* context, const v1::BackupRequest* request,
                      v1::BackupResponse* response) override;
  grpc::Status GetStats(grpc::ServerContext* context, const v1::GetStatsRequest* request,
                        v1::GetStatsResponse* response) override;

 private:
  const std::unique_ptr<MemoryStore> owned_;  // null when not owned
  MemoryStore* const store_;
};

}  // namespace vmle::memory
