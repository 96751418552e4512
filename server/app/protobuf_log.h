#ifndef GCNSERVE_SERVER_APP_PROTOBUF_LOG_H_
#define GCNSERVE_SERVER_APP_PROTOBUF_LOG_H_

namespace gcnserve {

// Routes protobuf's own log lines (such as "String field ... contains
// invalid UTF-8 data when parsing", one per bad request otherwise) through
// a RateLimitedLog (server/base/log.h) of one line a minute, so that a flood of
// bad requests cannot flood the log. Idempotent; FATAL stays fatal.
void RateLimitProtobufLog();

}  // namespace gcnserve

#endif  // GCNSERVE_SERVER_APP_PROTOBUF_LOG_H_
