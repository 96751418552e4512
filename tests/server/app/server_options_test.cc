#include "server/app/server_options.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>

namespace gcnserve {
namespace {

using ::testing::HasSubstr;

absl::StatusOr<std::optional<ServerOptions>> Parse(
    std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
  return ServerOptions::Parse(args, [&env](const char* name) -> const char* {
    auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  });
}

TEST(ServerOptionsTest, DefaultsAreSane) {
  auto options = Parse({});
  ASSERT_TRUE(options.ok()) << options.status();
  ASSERT_TRUE(options->has_value());
  EXPECT_EQ((*options)->grpc_address, "0.0.0.0:50051");
  EXPECT_EQ((*options)->metrics_address, "0.0.0.0:9464");
  EXPECT_EQ((*options)->device, "cpu");
  EXPECT_FALSE((*options)->model_repository.empty());
  EXPECT_EQ((*options)->max_batch_size, 0);  // each model its own, at load
  EXPECT_EQ((*options)->max_queue_delay_us, 0);  // an idle model never waits
  EXPECT_EQ((*options)->batch_idle_spin_us, 500);
  EXPECT_EQ((*options)->preprocess_threads, 0);  // one per usable core
}

TEST(ServerOptionsTest, PreprocessThreadsFollowTheCoresUnlessSet) {
  ServerOptions options;
  EXPECT_EQ(options.PreprocessThreads(16), 16);
  EXPECT_EQ(options.PreprocessThreads(2), 2);
  EXPECT_EQ(options.PreprocessThreads(0), 1);
  options.preprocess_threads = 3;
  EXPECT_EQ(options.PreprocessThreads(16), 3);
}

TEST(ServerOptionsTest, ReadsBothFlagForms) {
  auto options = Parse({"--max-batch-size=16", "--device", "cuda:1",
                        "--drain-timeout-s", "2.5", "--drain-grace-s=1.5",
                        "--metrics-address="});
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ((*options)->max_batch_size, 16);
  EXPECT_EQ((*options)->device, "cuda:1");
  EXPECT_DOUBLE_EQ((*options)->drain_timeout_s, 2.5);
  EXPECT_DOUBLE_EQ((*options)->drain_grace_s, 1.5);
  EXPECT_EQ((*options)->metrics_address, "");
}

TEST(ServerOptionsTest, ConnectionAgeFromFlagOrEnvironment) {
  auto defaults = Parse({});
  ASSERT_TRUE(defaults.ok()) << defaults.status();
  EXPECT_DOUBLE_EQ((*defaults)->max_connection_age_s, 300);
  EXPECT_DOUBLE_EQ((*defaults)->max_connection_age_grace_s, 30);
  auto options = Parse({"--max-connection-age-s=60"},
                       {{"GCNSERVE_MAX_CONNECTION_AGE_GRACE_S", "5"},
                        {"GCNSERVE_MAX_STREAMS_PER_CONNECTION", "64"}});
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_DOUBLE_EQ((*options)->max_connection_age_s, 60);
  EXPECT_DOUBLE_EQ((*options)->max_connection_age_grace_s, 5);
  EXPECT_EQ((*options)->max_streams_per_connection, 64);
  auto bad = Parse({"--max-connection-age-s=-1"});
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("--max-connection-age-s"));
}

TEST(ServerOptionsTest, EnvironmentSetsAndFlagWins) {
  auto options = Parse({"--max-queue-size=7"},
                       {{"GCNSERVE_MAX_QUEUE_SIZE", "99"},
                        {"GCNSERVE_MAX_QUEUE_DELAY_US", "500"}});
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ((*options)->max_queue_size, 7);
  EXPECT_EQ((*options)->max_queue_delay_us, 500);
}

TEST(ServerOptionsTest, AParseLeavesNothingBehindForTheNext) {
  auto set = Parse({"--max-queue-size=7", "--device=cuda"},
                   {{"GCNSERVE_HTTP_ADDRESS", ""}});
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ((*set)->max_queue_size, 7);
  auto again = Parse({});
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ((*again)->max_queue_size, 512);
  EXPECT_EQ((*again)->device, "cpu");
  EXPECT_EQ((*again)->http_address, "0.0.0.0:8000");
}

TEST(ServerOptionsTest, AFlagOverridesEvenABadVariable) {
  auto options = Parse({"--max-batch-size=8"},
                       {{"GCNSERVE_MAX_BATCH_SIZE", "lots"}});
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ((*options)->max_batch_size, 8);
}

TEST(ServerOptionsTest, BadValuesSayWhatIsAllowed) {
  EXPECT_EQ(Parse({"--max-batch-size=abc"}).status().message(),
            "--max-batch-size=abc is not allowed: an integer from 0 to 256");
  EXPECT_EQ(Parse({"--drain-grace-s=-1"}).status().message(),
            "--drain-grace-s=-1 is not allowed: seconds from 0 to 3600");
  EXPECT_EQ(Parse({"--device=tpu"}).status().message(),
            "--device=tpu is not allowed: cpu, cuda or cuda:N");
  EXPECT_EQ(Parse({"--grpc-address="}).status().message(),
            "--grpc-address= is not allowed: host:port with a port from 0 to "
            "65535");
}

TEST(ServerOptionsTest, HelpIsNotAnError) {
  auto options = Parse({"--help"});
  ASSERT_TRUE(options.ok());
  EXPECT_FALSE(options->has_value());
  std::string help = ServerOptions::Help();
  for (const char* flag :
       {"--grpc-address", "--metrics-address", "--http-address",
        "GCNSERVE_HTTP_ADDRESS", "--model-repository",
        "--default-model", "--max-batch-size", "--max-queue-delay-us",
        "--batch-idle-spin-us",
        "--max-queue-size", "--device", "--instances", "--intra-op-threads",
        "--preprocess-threads", "--max-image-pixels", "--max-message-bytes",
        "--max-decode-bytes", "--max-decode-bytes-in-flight",
        "GCNSERVE_MAX_DECODE_BYTES_IN_FLIGHT",
        "--max-grpc-memory-bytes", "--max-streams-per-connection",
        "--max-connection-age-s", "--max-connection-age-grace-s",
        "--drain-grace-s", "--drain-timeout-s", "--repository-poll-s", "--tls-cert",
        "--tls-key", "--tls-client-ca", "GCNSERVE_MAX_BATCH_SIZE"}) {
    EXPECT_THAT(help, HasSubstr(flag));
  }
  EXPECT_THAT(help, HasSubstr("  --max-batch-size (GCNSERVE_MAX_BATCH_SIZE, "
                              "default \"0\")\n"));
  EXPECT_THAT(help, HasSubstr("  --drain-timeout-s (GCNSERVE_DRAIN_TIMEOUT_S, "
                              "default \"10\")\n"));
  // -h too, and --help before a bad flag still helps.
  auto short_help = Parse({"-h"});
  ASSERT_TRUE(short_help.ok());
  EXPECT_FALSE(short_help->has_value());
  auto first = Parse({"--help", "--no-such-flag"});
  ASSERT_TRUE(first.ok());
  EXPECT_FALSE(first->has_value());
}

struct BadCase {
  std::vector<std::string> args;
  const char* names;  // what the message must name
};

class BadFlagTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadFlagTest, IsRefusedNamingTheFlag) {
  auto options = Parse(GetParam().args);
  ASSERT_FALSE(options.ok());
  EXPECT_EQ(options.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(options.status().message()),
              HasSubstr(GetParam().names));
}

INSTANTIATE_TEST_SUITE_P(
    Flags, BadFlagTest,
    ::testing::Values(
        BadCase{{"--max-batch-size=-1"}, "--max-batch-size"},
        BadCase{{"--max-batch-size=257"}, "--max-batch-size"},
        BadCase{{"--max-batch-size=abc"}, "--max-batch-size"},
        BadCase{{"--max-queue-size=-1"}, "--max-queue-size"},
        BadCase{{"--max-queue-delay-us=99999999999"}, "--max-queue-delay-us"},
        BadCase{{"--batch-idle-spin-us=-1"}, "--batch-idle-spin-us"},
        BadCase{{"--batch-idle-spin-us=100001"}, "--batch-idle-spin-us"},
        BadCase{{"--device=tpu"}, "--device"},
        BadCase{{"--instances=65"}, "--instances"},
        BadCase{{"--instances=-1"}, "--instances"},
        BadCase{{"--device=cuda:x"}, "--device"},
        BadCase{{"--grpc-address=nohost"}, "--grpc-address"},
        BadCase{{"--grpc-address=host:70000"}, "--grpc-address"},
        BadCase{{"--http-address=nohost"}, "--http-address"},
        // The HTTP port cannot check client certificates: mutual TLS needs
        // it off.
        BadCase{{"--tls-cert=c.pem", "--tls-key=k.pem", "--tls-client-ca=ca.pem"},
                "--http-address="},
        BadCase{{"--drain-timeout-s=-1"}, "--drain-timeout-s"},
        BadCase{{"--drain-grace-s=-1"}, "--drain-grace-s"},
        BadCase{{"--preprocess-threads=-1"}, "--preprocess-threads"},
        BadCase{{"--max-image-pixels=0"}, "--max-image-pixels"},
        BadCase{{"--max-decode-bytes=12"}, "--max-decode-bytes"},
        BadCase{{"--max-decode-bytes=2000000",
                 "--max-decode-bytes-in-flight=1000000"},
                "at least --max-decode-bytes"},
        BadCase{{"--model-repository="}, "--model-repository"},
        BadCase{{"--no-such-flag=1"}, "--no-such-flag"},
        BadCase{{"--max-batch-size"}, "needs a value"},
        BadCase{{"--tls-cert=c.pem"}, "--tls-key"},
        BadCase{{"--tls-key=k.pem"}, "--tls-cert"},
        BadCase{{"--tls-client-ca=ca.pem"}, "--tls-client-ca needs --tls-cert"},
        BadCase{{"stray"}, "stray"},
        BadCase{{"--", "--max-batch-size=8"}, "--max-batch-size=8"},
        // Abseil's own flags are not the server's.
        BadCase{{"--flagfile=flags.txt"}, "unknown flag --flagfile"}));

TEST(ServerOptionsTest, DecodeBudgetsPassACameraPhotoAndRefuseTheAttack) {
  auto options = Parse({});
  ASSERT_TRUE(options.ok());
  const int64_t camera_jpeg = int64_t{4032} * 3024 * 3;  // whole, in colour
  const int64_t attack_png = int64_t{7000} * 7000 * 4 * 2;  // RGBA, 16 bits
  EXPECT_GE((*options)->max_decode_bytes, camera_jpeg);
  EXPECT_LT((*options)->max_decode_bytes, attack_png);
  EXPECT_GE((*options)->max_decode_bytes_in_flight, (*options)->max_decode_bytes);
  auto set = Parse({"--max-decode-bytes=1000000"},
                   {{"GCNSERVE_MAX_DECODE_BYTES_IN_FLIGHT", "3000000"}});
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ((*set)->max_decode_bytes, 1'000'000);
  EXPECT_EQ((*set)->max_decode_bytes_in_flight, 3'000'000);
}

TEST(ServerOptionsTest, DriftWindowIsBoundedAndHoldsItsMinimum) {
  auto options = Parse({});
  ASSERT_TRUE(options.ok());
  EXPECT_EQ((*options)->drift_window_requests, 1000);
  EXPECT_EQ((*options)->drift_window_s, 600);
  EXPECT_EQ((*options)->drift_min_requests, 200);
  auto set = Parse({"--drift-window-requests=50", "--drift-min-requests=50",
                    "--drift-window-s=30"});
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ((*set)->drift_window_requests, 50);
  auto refused = Parse({"--drift-window-requests=50"});
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("--drift-min-requests"),
            std::string::npos);
  EXPECT_FALSE(Parse({"--drift-window-s=0"}).ok());
  EXPECT_FALSE(Parse({"--drift-window-requests=0"}).ok());
}

TEST(ServerOptionsTest, TlsIsOffByDefaultAndTakesItsFiles) {
  auto plain = Parse({});
  ASSERT_TRUE(plain.ok());
  EXPECT_TRUE((*plain)->tls_cert.empty() && (*plain)->tls_client_ca.empty());
  auto tls = Parse({"--tls-cert=c.pem", "--tls-key=k.pem", "--http-address="},
                   {{"GCNSERVE_TLS_CLIENT_CA", "ca.pem"}});
  ASSERT_TRUE(tls.ok()) << tls.status();
  EXPECT_EQ((*tls)->tls_cert, "c.pem");
  EXPECT_EQ((*tls)->tls_key, "k.pem");
  EXPECT_EQ((*tls)->tls_client_ca, "ca.pem");
}

TEST(ServerOptionsTest, HttpServesOnPort8000UnlessTurnedOff) {
  auto defaults = Parse({});
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ((*defaults)->http_address, "0.0.0.0:8000");
  auto off = Parse({}, {{"GCNSERVE_HTTP_ADDRESS", ""}});
  ASSERT_TRUE(off.ok()) << off.status();
  EXPECT_EQ((*off)->http_address, "");
  auto moved = Parse({"--http-address=127.0.0.1:0"});
  ASSERT_TRUE(moved.ok()) << moved.status();
  EXPECT_EQ((*moved)->http_address, "127.0.0.1:0");
}

TEST(ServerOptionsTest, BadEnvironmentValueNamesTheVariable) {
  auto options = Parse({}, {{"GCNSERVE_MAX_BATCH_SIZE", "lots"}});
  ASSERT_FALSE(options.ok());
  EXPECT_THAT(std::string(options.status().message()),
              HasSubstr("GCNSERVE_MAX_BATCH_SIZE"));
}

}  // namespace
}  // namespace gcnserve
