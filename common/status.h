// Errors as values. A Status is cheap when OK; a Result<T> holds a value or a non-OK Status.
// Nothing in keymgr throws across a module boundary: every fallible call returns one of these.
//
// ErrorCode is the coarse class (decides the HTTP status, in api/error_mapping.cc only);
// `reason` is a stable machine-readable string for clients and logs (e.g. "hsm_unavailable",
// "key_expired"); `message` is for humans and must never contain a secret.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace keymgr {

enum class ErrorCode {
  kOk = 0,
  kInvalidArgument,     // caller sent something malformed
  kNotFound,            // named thing does not exist
  kAlreadyExists,       // unique name/issuer taken
  kFailedPrecondition,  // state does not allow it (transition refused, no active key)
  kPermissionDenied,    // authenticated but not allowed
  kUnauthenticated,     // no or bad credentials
  kUnavailable,         // HSM, ledger or clock cannot do its part: fail closed
  kResourceExhausted,   // too large, too many
  kDeadlineExceeded,    // a dependency did not answer in time
  kDataLoss,            // tamper evidence or corruption detected
  kInternal,            // a bug or an unexpected dependency answer
};

std::string_view error_code_name(ErrorCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(ErrorCode code, std::string reason, std::string message)
      : code_(code), reason_(std::move(reason)), message_(std::move(message)) {}

  static Status Ok() { return {}; }
  bool ok() const { return code_ == ErrorCode::kOk; }
  ErrorCode code() const { return code_; }
  // Machine-readable; defaults to the code's name when none was given.
  std::string_view reason() const {
    return reason_.empty() ? error_code_name(code_) : std::string_view(reason_);
  }
  const std::string& message() const { return message_; }
  std::string to_string() const;

  // Prefix the message with context ("rotate keyset 'web': ...") keeping code and reason.
  Status with_context(std::string_view context) const;

 private:
  ErrorCode code_ = ErrorCode::kOk;
  std::string reason_;
  std::string message_;
};

// Shorthands. reason defaults to the code's name.
Status InvalidArgument(std::string message, std::string reason = "invalid_argument");
Status NotFound(std::string message, std::string reason = "not_found");
Status AlreadyExists(std::string message, std::string reason = "already_exists");
Status FailedPrecondition(std::string message, std::string reason = "failed_precondition");
Status PermissionDenied(std::string message, std::string reason = "forbidden");
Status Unauthenticated(std::string message, std::string reason = "unauthenticated");
Status Unavailable(std::string message, std::string reason = "unavailable");
Status ResourceExhausted(std::string message, std::string reason = "too_large");
Status DeadlineExceeded(std::string message, std::string reason = "deadline_exceeded");
Status DataLoss(std::string message, std::string reason = "data_loss");
Status Internal(std::string message, std::string reason = "internal");

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Status status) : v_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    if (std::get<Status>(v_).ok()) v_ = Internal("Result constructed from OK status");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return ok(); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &std::get<T>(v_); }
  const T* operator->() const { return &std::get<T>(v_); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace keymgr

#define KM_CONCAT_INNER(a, b) a##b
#define KM_CONCAT(a, b) KM_CONCAT_INNER(a, b)

#define RETURN_IF_ERROR(expr)                 \
  do {                                        \
    ::keymgr::Status _km_st = (expr);         \
    if (!_km_st.ok()) return _km_st;          \
  } while (0)

#define ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                          \
  if (!tmp.ok()) return tmp.status();         \
  lhs = std::move(tmp).value()

#define ASSIGN_OR_RETURN(lhs, expr) ASSIGN_OR_RETURN_IMPL(KM_CONCAT(_km_r_, __LINE__), lhs, expr)
