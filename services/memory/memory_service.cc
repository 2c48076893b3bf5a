#include "services/memory/memory_service.h"

#include <utility>

#include "common/status/grpc_status.h"

namespace vmle::memory {
grpc::Status MemoryServiceImpl::PutStudy(grpc::ServerContext*, const v1::PutStudyRequest* request,
                                         v1::PutStudyResponse* response) {
  return Reply(store_->PutStudy(*request), response);
}

grpc::Status MemoryServiceImpl::GetStudy(grpc::ServerContext*,
                                         const v1::GetStudyRecordRequest* request,
                                         v1::Study* response) {
  return Reply(store_->GetStudy(*request), response);
}

grpc::Status MemoryServiceImpl::ListStudies(grpc::ServerContext*,
                                            const v1::ListStudyRecordsRequest* request,
                                            v1::ListStudyRecordsResponse* response) {
  return Reply(store_->ListStudies(*request), response);
}

grpc::Status MemoryServiceImpl::PutTrial(grpc::ServerContext*, const v1::PutTrialRequest* request,
                                         v1::PutTrialResponse* response) {
  return Reply(store_->PutTrial(*request), response);
}

grpc::Status MemoryServiceImpl::GetTrial(grpc::ServerContext*, const v1::GetTrialRequest* request,
                                         v1::Trial* response) {
  return Reply(store_->GetTrial(*request), response);
}

grpc::Status MemoryServiceImpl::ListTrials(grpc::ServerContext*,
                                           const v1::ListTrialRecordsRequest* request,
                                           v1::ListTrialRecordsResponse* response) {
  return Reply(store_->ListTrials(*request), response);
}

grpc::Status MemoryServiceImpl::CommitTrialResult(grpc::ServerContext*,
                                                  const v1::CommitTrialResultRequest* request,
                                                  v1::CommitTrialResultResponse* response) {
  return Reply(store_->CommitTrialResult(*request), response);
}

grpc::Status MemoryServiceImpl::AppendEvents(grpc::ServerContext*,
                                             const v1::AppendEventsRequest* request,
                                             v1::AppendEventsResponse* response) {
  return Reply(store_->AppendEvents(*request), response);
}

grpc::Status MemoryServiceImpl::ListEvents(grpc::ServerContext*,
                                           const v1::ListEventsRequest* request,
                                           v1::ListEventsResponse* response) {
  return Reply(store_->ListEvents(*request), response);
}

grpc::Status MemoryServiceImpl::PutReflection(grpc::ServerContext*,
                                              const v1::PutReflectionRequest* request,
                                              v1::PutReflectionResponse* response) {
  return Reply(store_->PutReflection(*request), response);
}

grpc::Status MemoryServiceImpl::ListReflections(grpc::ServerContext*,
                                                const v1::ListReflectionsRequest* request,
                                                v1::ListReflectionsResponse* response) {
  return Reply(store_->ListReflections(*request), response);
}

grpc::Status MemoryServiceImpl::PutInsights(grpc::ServerContext*,
                                            const v1::PutInsightsRequest* request,
                                            v1::PutInsightsResponse* response) {
  return Reply(store_->PutInsights(*request), response);
}

grpc::Status MemoryServiceImpl::GetInsights(grpc::ServerContext*,
                                            const v1::GetInsightsRequest* request,
                                            v1::WorkingInsights* response) {
  return Reply(store_->GetInsights(*request), response);
}

grpc::Status MemoryServiceImpl::PutCognitionSummary(grpc::ServerContext*,
                                                    const v1::PutCognitionSummaryRequest* request,
                                                    v1::PutCognitionSummaryResponse* response) {
  return Reply(store_->PutCognitionSummary(*request), response);
}

grpc::Status MemoryServiceImpl::GetCognitionSummary(grpc::ServerContext*,
                                                    const v1::GetCognitionSummaryRequest* request,
                                                    v1::CognitionSummary* response) {
  return Reply(store_->GetCognitionSummary(*request), response);
}

grpc::Status MemoryServiceImpl::ListCognitionSummaries(
    grpc::ServerContext*, const v1::ListCognitionSummariesRequest* request,
    v1::ListCognitionSummariesResponse* response) {
  return Reply(store_->ListCognitionSummaries(*request), response);
}

grpc::Status MemoryServiceImpl::RetrieveCognition(grpc::ServerContext*,
                                                  const v1::RetrieveCognitionRequest* request,
                                                  v1::RetrieveCognitionResponse* response) {
  return Reply(store_->RetrieveCognition(*request), response);
}

grpc::Status MemoryServiceImpl::ExportCognition(grpc::ServerContext*,
                                                const v1::ExportCognitionRequest* request,
                                                v1::ExportCognitionResponse* response) {
  return Reply(store_->ExportCognition(*request), response);
}

grpc::Status MemoryServiceImpl::ImportCognition(grpc::ServerContext*,
                                                const v1::ImportCognitionRequest* request,
                                                v1::ImportCognitionResponse* response) {
  return Reply(store_->ImportCognition(*request), response);
}

grpc::Status MemoryServiceImpl::Backup(grpc::ServerContext*, const v1::BackupRequest* request,
                                       v1::BackupResponse* response) {
  return Reply(store_->Backup(*request), response);
}

grpc::Status MemoryServiceImpl::GetStats(grpc::ServerContext*, const v1::GetStatsRequest* request,
                                         v1::GetStatsResponse* response) {
  return Reply(store_->GetStats(*request), response);
}

}  // namespace vmle::memory
