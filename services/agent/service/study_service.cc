#include "services/agent/service/study_service.h"

#include "common/auth/caller.h"
#include "common/status/grpc_status.h"

namespace vmle::agent {
grpc::Status StudyServiceImpl::SubmitStudy(grpc::ServerContext* context, const vmle::v1::SubmitStudyRequest* request,
                                           vmle::v1::Study* response) {
  return Reply(manager_.Submit(*request, auth::CallerOf(context)), response);
}

grpc::Status StudyServiceImpl::GetStudy(grpc::ServerContext*, const vmle::v1::GetStudyRequest* request,
                                        vmle::v1::Study* response) {
  return Reply(manager_.GetStudy(request->study_id()), response);
}

grpc::Status StudyServiceImpl::ListStudies(grpc::ServerContext*, const vmle::v1::ListStudiesRequest* request,
                                           vmle::v1::ListStudiesResponse* response) {
  return Reply(manager_.ListStudies(*request), response);
}

grpc::Status StudyServiceImpl::ListTrials(grpc::ServerContext*, const vmle::v1::ListTrialsRequest* request,
                                          vmle::v1::ListTrialsResponse* response) {
  return Reply(manager_.ListTrials(*request), response);
}

grpc::Status StudyServiceImpl::WatchStudy(grpc::ServerContext* context, const vmle::v1::WatchStudyRequest* request,
                                          grpc::ServerWriter<vmle::v1::StudyEvent>* writer) {
  absl::StatusOr<CallerSlots::Slot> slot = watches_.Acquire(auth::CallerOf(context));
  if (!slot.ok()) return ToGrpcStatus(slot.status());
  return ToGrpcStatus(manager_.Watch(
      *request, [writer](const vmle::v1::StudyEvent& event) { return writer->Write(event); },
      [context] { return context->IsCancelled(); }));
}

grpc::Status StudyServiceImpl::CancelStudy(grpc::ServerContext*, const vmle::v1::CancelStudyRequest* request,
                                           vmle::v1::Study* response) {
  return Reply(manager_.Cancel(*request), response);
}

grpc::Status StudyServiceImpl::ResumeStudy(grpc::ServerContext*, const vmle::v1::ResumeStudyRequest* request,
                                           vmle::v1::Study* response) {
  return Reply(manager_.Resume(*request), response);
}

grpc::Status StudyServiceImpl::UploadTranscript(grpc::ServerContext*, const vmle::v1::UploadTranscriptRequest* request,
                                                vmle::v1::UploadTranscriptResponse* response) {
  return Reply(manager_.UploadTranscript(*request), response);
}

grpc::Status StudyServiceImpl::GetReport(grpc::ServerContext*, const vmle::v1::GetReportRequest* request,
                                         vmle::v1::StudyReport* response) {
  return Reply(manager_.Report(request->study_id()), response);
}

}  // namespace vmle::agent
