// vmle.v1.StudyService over a StudyManager: a thin adapter that converts requests
// and statuses. WatchStudy holds a server thread per watcher for the life of the
// stream; a caller may hold at most `max_watches_per_caller` streams at once
// (RESOURCE_EXHAUSTED beyond).
#pragma once

#include "services/agent/service/caller_slots.h"
#include "services/agent/study/study_manager.h"
#include "vmle/v1/study_service.grpc.pb.h"

namespace vmle::agent {

class StudyServiceImpl final : public vmle::v1::StudyService::Service {
 public:
  // `manager` is not owned and must outlive the service.
  explicit StudyServiceImpl(StudyManager* manager, int max_watches_per_caller = kDefaultMaxWatchesPerCaller)
      : manager_(*manager), watches_(max_watches_per_caller, "WatchStudy streams", "--max_watches_per_caller") {}

  static constexpr int kDefaultMaxWatchesPerCaller = 64;

  grpc::Status SubmitStudy(grpc::ServerContext* context, const vmle::v1::SubmitStudyRequest* request,
                           vmle::v1::Study* response) override;
  grpc::Status GetStudy(grpc::ServerContext* context, const vmle::v1::GetStudyRequest* request,
                        vmle::v1::Study* response) override;
  grpc::Status ListStudies(grpc::ServerContext* context, const vmle::v1::ListStudiesRequest* request,
                           vmle::v1::ListStudiesResponse* response) override;
  grpc::Status ListTrials(grpc::ServerContext* context, const vmle::v1::ListTrialsRequest* request,
                          vmle::v1::ListTrialsResponse* response) override;
  grpc::Status WatchStudy(grpc::ServerContext* context, const vmle::v1::WatchStudyRequest* request,
                          grpc::ServerWriter<vmle::v1::StudyEvent>* writer) override;
  grpc::Status CancelStudy(grpc::ServerContext* context, const vmle::v1::CancelStudyRequest* request,
                           vmle::v1::Study* response) override;
  grpc::Status ResumeStudy(grpc::ServerContext* context, const vmle::v1::ResumeStudyRequest* request,
                           vmle::v1::Study* response) override;
  grpc::Status UploadTranscript(grpc::ServerContext* context, const vmle::v1::UploadTranscriptRequest* request,
                                vmle::v1::UploadTranscriptResponse* response) override;
  grpc::Status GetReport(grpc::ServerContext* context, const vmle::v1::GetReportRequest* request,
                         vmle::v1::StudyReport* response) override;

 private:
  StudyManager& manager_;
  CallerSlots watches_;
};

}  // namespace vmle::agent
