#include "common/status.h"

namespace keymgr {

std::string_view error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::kOk: return "ok";
    case ErrorCode::kInvalidArgument: return "invalid_argument";
    case ErrorCode::kNotFound: return "not_found";
    case ErrorCode::kAlreadyExists: return "already_exists";
    case ErrorCode::kFailedPrecondition: return "failed_precondition";
    case ErrorCode::kPermissionDenied: return "forbidden";
    case ErrorCode::kUnauthenticated: return "unauthenticated";
    case ErrorCode::kUnavailable: return "unavailable";
    case ErrorCode::kResourceExhausted: return "too_large";
    case ErrorCode::kDeadlineExceeded: return "deadline_exceeded";
    case ErrorCode::kDataLoss: return "data_loss";
    case ErrorCode::kInternal: return "internal";
  }
  return "unknown";
}

std::string Status::to_string() const {
  if (ok()) return "OK";
  std::string s(reason());
  s += ": ";
  s += message_;
  return s;
}

Status Status::with_context(std::string_view context) const {
  if (ok()) return *this;
  return Status(code_, reason_, std::string(context) + ": " + message_);
}

Status InvalidArgument(std::string m, std::string r) { return {ErrorCode::kInvalidArgument, std::move(r), std::move(m)}; }
Status NotFound(std::string m, std::string r) { return {ErrorCode::kNotFound, std::move(r), std::move(m)}; }
Status AlreadyExists(std::string m, std::string r) { return {ErrorCode::kAlreadyExists, std::move(r), std::move(m)}; }
Status FailedPrecondition(std::string m, std::string r) { return {ErrorCode::kFailedPrecondition, std::move(r), std::move(m)}; }
Status PermissionDenied(std::string m, std::string r) { return {ErrorCode::kPermissionDenied, std::move(r), std::move(m)}; }
Status Unauthenticated(std::string m, std::string r) { return {ErrorCode::kUnauthenticated, std::move(r), std::move(m)}; }
Status Unavailable(std::string m, std::string r) { return {ErrorCode::kUnavailable, std::move(r), std::move(m)}; }
Status ResourceExhausted(std::string m, std::string r) { return {ErrorCode::kResourceExhausted, std::move(r), std::move(m)}; }
Status DeadlineExceeded(std::string m, std::string r) { return {ErrorCode::kDeadlineExceeded, std::move(r), std::move(m)}; }
Status DataLoss(std::string m, std::string r) { return {ErrorCode::kDataLoss, std::move(r), std::move(m)}; }
Status Internal(std::string m, std::string r) { return {ErrorCode::kInternal, std::move(r), std::move(m)}; }

}  // namespace keymgr
