#ifndef GCNSERVE_SERVER_BASE_STATUS_MACROS_H_
#define GCNSERVE_SERVER_BASE_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

// Returns from the enclosing function when `expr` (an absl::Status) fails.
#define GCN_RETURN_IF_ERROR(expr)        \
  do {                                   \
    ::absl::Status gcn_status_ = (expr); \
    if (!gcn_status_.ok()) return gcn_status_; \
  } while (false)

#define GCN_CONCAT_INNER(a, b) a##b
#define GCN_CONCAT(a, b) GCN_CONCAT_INNER(a, b)

// `lhs = value of statusor`, or returns its status from the enclosing function.
#define GCN_ASSIGN_OR_RETURN(lhs, expr) \
  GCN_ASSIGN_OR_RETURN_IMPL(GCN_CONCAT(gcn_statusor_, __LINE__), lhs, expr)
#define GCN_ASSIGN_OR_RETURN_IMPL(statusor, lhs, expr) \
  auto statusor = (expr);                              \
  if (!statusor.ok()) return statusor.status();        \
  lhs = std::move(statusor).value()

#endif  // GCNSERVE_SERVER_BASE_STATUS_MACROS_H_
