#include "services/cli/study_commands.h"

#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "common/space/space_proto.h"
#include "common/status/grpc_status.h"
#include "common/status/status_macros.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/client_context.h"
#include "services/agent/study/report.h"

namespace vmle::cli {
namespace {

void SetDeadline(grpc::ClientContext& context, absl::Duration timeout) {
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
}

std::string Lower(std::string name) {
  name = name.substr(name.rfind('_') + 1);
  return absl::AsciiStrToLower(name);
}

std::string Json(const google::protobuf::Message& message) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(message, &json, options);
  return json;
}

std::string CsvCell(const std::string& text) {
  if (text.find_first_of(",\"\n") == std::string::npos) return text;
  return "\"" + absl::StrReplaceAll(text, {{"\"", "\"\""}}) + "\"";
}

std::string Metrics(const vmle::v1::MetricValues& m) {
  return absl::StrFormat("%.5f,%.5f,%.5f,%.5f,%.5f,%.5f,%.5f", m.recall_at_5(), m.recall_at_10(), m.recall_at_20(),
                         m.ndcg_at_5(), m.ndcg_at_10(), m.ndcg_at_20(), m.mrr());
}

}  // namespace

absl::StatusOr<vmle::v1::Study> Submit(StudyStub& studies, const vmle::v1::StudySpec& spec,
                                       const std::string& request_id, absl::Duration timeout) {
  vmle::v1::SubmitStudyRequest request;
  *request.mutable_spec() = spec;
  request.set_request_id(request_id);
  grpc::ClientContext context;
  SetDeadline(context, timeout);
  vmle::v1::Study study;
  const absl::Status status = FromGrpcStatus(studies.SubmitStudy(&context, request, &study));
  if (!status.ok()) return status;
  return study;
}

absl::Status ListStudies(StudyStub& studies, const std::vector<std::string>& states, absl::Duration timeout,
                         std::ostream& out) {
  vmle::v1::ListStudiesRequest request;
  for (const std::string& s : states) {
    vmle::v1::StudyState state;
    if (!vmle::v1::StudyState_Parse("STUDY_STATE_" + absl::AsciiStrToUpper(s), &state)) {
      return absl::InvalidArgumentError("--state: expected pending, running, succeeded, failed or cancelled, got \"" +
                                        s + "\"");
    }
    request.add_states(state);
  }
  out << absl::StrFormat("%-28s %-10s %-24s %-14s %-9s %s\n", "STUDY", "STATE", "DATASET", "PLANNER", "TRIALS", "BEST");
  do {
    grpc::ClientContext context;
    SetDeadline(context, timeout);
    vmle::v1::ListStudiesResponse response;
    const absl::Status status = FromGrpcStatus(studies.ListStudies(&context, request, &response));
    if (!status.ok()) return status;
    for (const auto& s : response.studies()) {
      out << absl::StrFormat("%-28s %-10s %-24s %-14s %4d/%-4d %s\n", s.id(), Lower(vmle::v1::StudyState_Name(s.state())),
                             s.spec().dataset().name(), s.spec().planner().name(), s.trials_total(),
                             s.spec().budget().max_trials(), s.has_best() ? absl::StrFormat("%.4f", s.best_value()) : "-");
    }
    request.set_page_token(response.next_page_token());
  } while (!request.page_token().empty());
  return absl::OkStatus();
}

absl::StatusOr<vmle::v1::Study> FetchStudy(StudyStub& studies, const std::string& id, absl::Duration timeout) {
  grpc::ClientContext context;
  SetDeadline(context, timeout);
  vmle::v1::GetStudyRequest request;
  request.set_study_id(id);
  vmle::v1::Study study;
  const absl::Status status = FromGrpcStatus(studies.GetStudy(&context, request, &study));
  if (!status.ok()) return status;
  return study;
}

absl::Status GetStudy(StudyStub& studies, const std::string& id, absl::Duration timeout, std::ostream& out) {
  absl::StatusOr<vmle::v1::Study> study = FetchStudy(studies, id, timeout);
  if (!study.ok()) return study.status();
  out << Json(*study) << "\n";
  return absl::OkStatus();
}

absl::Status CancelStudy(StudyStub& studies, const std::string& id, const std::string& reason,
                         absl::Duration timeout, std::ostream& out) {
  grpc::ClientContext context;
  SetDeadline(context, timeout);
  vmle::v1::CancelStudyRequest request;
  request.set_study_id(id);
  request.set_reason(reason);
  vmle::v1::Study study;
  const absl::Status status = FromGrpcStatus(studies.CancelStudy(&context, request, &study));
  if (!status.ok()) return status;
  out << "cancelled " << id << " (" << study.trials_running() << " running trials told to stop)\n";
  return absl::OkStatus();
}

absl::Status ResumeStudy(StudyStub& studies, const std::string& id, int trials, absl::Duration timeout,
                         std::ostream& out) {
  grpc::ClientContext context;
  SetDeadline(context, timeout);
  vmle::v1::ResumeStudyRequest request;
  request.set_study_id(id);
  request.set_additional_trials(trials);
  vmle::v1::Study study;
  const absl::Status status = FromGrpcStatus(studies.ResumeStudy(&context, request, &study));
  if (!status.ok()) return status;
  out << "resumed " << id << " with a budget of " << study.spec().budget().max_trials() << " trials\n";
  return absl::OkStatus();
}

absl::StatusOr<vmle::v1::StudyReport> GetReport(StudyStub& studies, const std::string& id, absl::Duration timeout) {
  grpc::ClientContext context;
  SetDeadline(context, timeout);
  vmle::v1::GetReportRequest request;
  request.set_study_id(id);
  vmle::v1::StudyReport report;
  const absl::Status status = FromGrpcStatus(studies.GetReport(&context, request, &report));
  if (!status.ok()) return status;
  return report;
}

absl::StatusOr<std::vector<vmle::v1::Trial>> FetchTrials(StudyStub& studies, const std::string& id,
                                                         absl::Duration timeout) {
  std::vector<vmle::v1::Trial> trials;
  vmle::v1::ListTrialsRequest request;
  request.set_study_id(id);
  request.set_page_size(1000);
  do {
    grpc::ClientContext context;
    SetDeadline(context, timeout);
    vmle::v1::ListTrialsResponse response;
    const absl::Status status = FromGrpcStatus(studies.ListTrials(&context, request, &response));
    if (!status.ok()) return status;
    trials.insert(trials.end(), response.trials().begin(), response.trials().end());
    request.set_page_token(response.next_page_token());
  } while (!request.page_token().empty());
  return trials;
}

void WriteTrialsCsv(const std::vector<vmle::v1::Trial>& trials, std::ostream& out) {
  std::set<std::string> params;
  for (const auto& t : trials) {
    for (const auto& [name, value] : t.config().values()) params.insert(name);
  }
  out << "number,trial_id,status,attempts,objective,best_epoch,train_seconds,failure_cause,changed_dimension,"
         "hypothesis,seed,seed_plan";
  for (const char* split : {"val_", "test_"}) {
    for (const auto& m : {"recall@5", "recall@10", "recall@20", "ndcg@5", "ndcg@10", "ndcg@20", "mrr"}) {
      out << "," << split << m;
    }
  }
  for (const auto& p : params) out << "," << p;
  out << "\n";
  for (const auto& t : trials) {
    out << t.number() << "," << t.id() << "," << Lower(vmle::v1::TrialStatus_Name(t.status())) << "," << t.attempts()
        << "," << absl::StrFormat("%.6f", t.objective_value()) << "," << t.best_epoch() << ","
        << absl::StrFormat("%.1f", t.train_seconds()) << "," << t.failure_cause() << ","
        << CsvCell(t.proposal().changed_dimension()) << "," << CsvCell(t.proposal().hypothesis()) << ","
        << t.seed() << "," << CsvCell(agent::SeedPlanText(t.proposal())) << "," << Metrics(t.validation()) << ","
        << Metrics(t.test());
    for (const auto& p : params) {
      auto it = t.config().values().find(p);
      out << "," << (it == t.config().values().end() ? "" : CsvCell(space::ValueText(it->second)));
    }
    out << "\n";
  }
}

absl::Status ListTrials(StudyStub& studies, const std::string& id, bool csv, absl::Duration timeout,
                        std::ostream& out) {
  absl::StatusOr<std::vector<vmle::v1::Trial>> trials = FetchTrials(studies, id, timeout);
  if (!trials.ok()) return trials.status();
  if (csv) {
    WriteTrialsCsv(*trials, out);
    return absl::OkStatus();
  }
  out << absl::StrFormat("%-4s %-10s %-10s %-18s %-28s %s\n", "#", "STATUS", "OBJECTIVE", "CHANGED", "SEED",
                         "HYPOTHESIS");
  for (const auto& t : *trials) {
    out << absl::StrFormat("%-4d %-10s %-10s %-18s %-28s %s\n", t.number(), Lower(vmle::v1::TrialStatus_Name(t.status())),
                           t.best_epoch() > 0 ? absl::StrFormat("%.4f", t.objective_value()) : "-",
                           t.proposal().changed_dimension(), agent::SeedPlanText(t.proposal()),
                           t.proposal().hypothesis());
  }
  return absl::OkStatus();
}

absl::Status ExportCognition(vmle::v1::MemoryService::StubInterface& memory, const std::string& backbone,
                             absl::Duration timeout, std::ostream& out) {
  vmle::v1::ExportCognitionRequest request;
  if (!backbone.empty()) {
    vmle::v1::Backbone b;
    if (!vmle::v1::Backbone_Parse("BACKBONE_" + absl::AsciiStrToUpper(backbone), &b)) {
      return absl::InvalidArgumentError("--backbone: expected sasrec or hstu, got \"" + backbone + "\"");
    }
    request.set_backbone(b);
  }
  grpc::ClientContext context;
  SetDeadline(context, timeout);
  vmle::v1::ExportCognitionResponse response;
  const absl::Status status = FromGrpcStatus(memory.ExportCognition(&context, request, &response));
  if (!status.ok()) return status;
  out << response.json() << "\n";
  return absl::OkStatus();
}

namespace {

absl::StatusOr<std::string> ReadLocalFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError("cannot read " + path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

absl::Status UploadTranscript(StudyStub& studies, const std::string& id, const std::string& path,
                              absl::Duration timeout, std::ostream& out) {
  vmle::v1::UploadTranscriptRequest request;
  ASSIGN_OR_RETURN(*request.mutable_jsonl(), ReadLocalFile(path));
  request.set_id(id);
  grpc::ClientContext context;
  SetDeadline(context, timeout);
  vmle::v1::UploadTranscriptResponse response;
  const absl::Status status = FromGrpcStatus(studies.UploadTranscript(&context, request, &response));
  if (!status.ok()) return status;
  out << "uploaded transcript " << response.id() << " (" << response.exchanges()
      << " exchanges); replay it with the llm planner option replay: " << response.id() << "\n";
  return absl::OkStatus();
}

absl::Status ImportCognition(vmle::v1::MemoryService::StubInterface& memory, const std::string& path,
                             bool overwrite, absl::Duration timeout, std::ostream& out) {
  vmle::v1::ImportCognitionRequest request;
  ASSIGN_OR_RETURN(*request.mutable_json(), ReadLocalFile(path));
  request.set_overwrite(overwrite);
  grpc::ClientContext context;
  SetDeadline(context, timeout);
  vmle::v1::ImportCognitionResponse response;
  const absl::Status status = FromGrpcStatus(memory.ImportCognition(&context, request, &response));
  if (!status.ok()) return status;
  out << "imported " << response.imported() << " cognition summaries, skipped " << response.skipped() << "\n";
  return absl::OkStatus();
}

}  // namespace vmle::cli
