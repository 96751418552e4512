#ifndef GCNSERVE_TESTS_SUPPORT_RUNNING_SERVER_H_
#define GCNSERVE_TESTS_SUPPORT_RUNNING_SERVER_H_

// The real server on loopback with the tiny test model
// (tests/integration/make_test_models.sh), and a client of it, for the
// client's and the server's integration tests. Needs GCNSERVE_TEST_REPOSITORY
// and GCNSERVE_TEST_SAMPLES defined.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "client/classifier_client.h"
#include "server/app/server.h"

namespace gcnserve {

// The options every in-process test server starts from: loopback on a free
// port, metrics and HTTP off (tests of HTTP set http_address "127.0.0.1:0"),
// the test repository, one LibTorch thread, batches of up to 8 (formed as
// the server's defaults say: no queue delay).
inline ServerOptions LoopbackServerOptions() {
  ServerOptions options;
  options.grpc_address = "127.0.0.1:0";
  options.metrics_address = "";
  options.http_address = "";
  options.model_repository = GCNSERVE_TEST_REPOSITORY;
  options.intra_op_threads = 1;
  options.max_batch_size = 8;
  return options;
}

class RunningServer {
 public:
  // `configure`, when given, may change the server's and the client's
  // options (TLS files, say) before either is made; the client's target is
  // set to the server's port afterwards.
  static std::unique_ptr<RunningServer> Start(
      const std::function<void(ServerOptions&, ClientOptions&)>& configure =
          nullptr) {
    ServerOptions options = LoopbackServerOptions();
    ClientOptions client;
    client.deadline_ms = 20000;
    if (configure) configure(options, client);
    auto server = Server::Create(options);
    EXPECT_TRUE(server.ok()) << server.status();
    if (!server.ok()) return nullptr;
    auto running = std::unique_ptr<RunningServer>(new RunningServer);
    running->server_ = *std::move(server);
    client.target =
        "127.0.0.1:" + std::to_string(running->server_->grpc_port());
    auto made = ClassifierClient::Create(client);
    EXPECT_TRUE(made.ok()) << made.status();
    if (!made.ok()) return nullptr;
    running->client_ = *std::move(made);
    return running;
  }

  ClassifierClient& client() { return *client_; }
  std::string target() const {
    return "127.0.0.1:" + std::to_string(server_->grpc_port());
  }
  Server& server() { return *server_; }

  // The test samples (Fashion-MNIST PNGs named NNNNN_<class>_<label>.png).
  static std::vector<std::filesystem::path> Samples() {
    std::vector<std::filesystem::path> files;
    for (const auto& entry :
         std::filesystem::directory_iterator(GCNSERVE_TEST_SAMPLES)) {
      if (entry.path().extension() == ".png") files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    return files;
  }
  static std::string Read(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream bytes;
    bytes << in.rdbuf();
    return bytes.str();
  }

 private:
  RunningServer() = default;
  std::unique_ptr<Server> server_;
  std::unique_ptr<ClassifierClient> client_;
};

}  // namespace gcnserve

#endif  // GCNSERVE_TESTS_SUPPORT_RUNNING_SERVER_H_
