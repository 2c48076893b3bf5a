// Small facts about trials and studies the agent core's parts share.
#pragma once

#include "vmle/v1/study.pb.h"

namespace vmle::agent::internal {

// The trial ended (succeeded, failed or stopped).
inline bool Finished(const vmle::v1::Trial& t) {
  return t.status() == vmle::v1::TRIAL_STATUS_SUCCEEDED || t.status() == vmle::v1::TRIAL_STATUS_FAILED ||
         t.status() == vmle::v1::TRIAL_STATUS_STOPPED;
}

// "running", "succeeded", ... for logs, messages and metric labels.
inline const char* StateName(vmle::v1::StudyState s) {
  switch (s) {
    case vmle::v1::STUDY_STATE_PENDING: return "pending";
    case vmle::v1::STUDY_STATE_RUNNING: return "running";
    case vmle::v1::STUDY_STATE_SUCCEEDED: return "succeeded";
    case vmle::v1::STUDY_STATE_FAILED: return "failed";
    case vmle::v1::STUDY_STATE_CANCELLED: return "cancelled";
    default: return "unspecified";
  }
}

}  // namespace vmle::agent::internal
