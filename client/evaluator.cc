#include "client/evaluator.h"

#include <algorithm>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>

namespace gcnserve {
namespace {

namespace fs = std::filesystem;

constexpr size_t kFailuresKept = 10;

bool IsIndex(const std::string& name) {
  return !name.empty() && name.size() < 7 &&
         std::all_of(name.begin(), name.end(),
                     [](char c) { return c >= '0' && c <= '9'; });
}

std::string ReadFile(const std::string& path, bool& ok) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  ok = static_cast<bool>(in);
  return bytes.str();
}

}  // namespace

Evaluator::Evaluator(ClassifierClient* client, const EvalOptions& options)
    : client_(client), options_(options) {}

absl::StatusOr<std::vector<LabeledImage>> Evaluator::FindImages(
    const std::string& dir) {
  std::error_code error;
  if (!fs::is_directory(dir, error)) {
    return absl::InvalidArgumentError("'" + dir + "' is not a folder");
  }
  static const std::set<std::string> kExtensions = {
      ".png", ".jpg",  ".jpeg", ".bmp", ".webp",
      ".tif", ".tiff", ".ppm",  ".pgm", ".pnm"};
  std::vector<LabeledImage> images;
  for (const auto& entry : fs::directory_iterator(dir, error)) {
    if (!entry.is_directory()) continue;
    std::string name = entry.path().filename().string();
    if (!IsIndex(name)) {
      return absl::InvalidArgumentError(
          "'" + entry.path().string() +
          "': the subfolders of an eval folder are class indices (0, 1, ...)");
    }
    for (const auto& file : fs::directory_iterator(entry.path(), error)) {
      std::string extension = file.path().extension().string();
      std::transform(extension.begin(), extension.end(), extension.begin(),
                     [](unsigned char c) { return std::tolower(c); });
      if (file.is_regular_file() && kExtensions.count(extension)) {
        images.push_back({file.path().string(), std::stoi(name)});
      }
    }
  }
  if (error) {
    return absl::InvalidArgumentError("cannot read '" + dir +
                                      "': " + error.message());
  }
  if (images.empty()) {
    return absl::InvalidArgumentError(
        "'" + dir + "' holds no image in class subfolders (" + dir +
        "/0/*.png, " + dir + "/1/*.png, ...)");
  }
  std::sort(images.begin(), images.end(),
            [](const LabeledImage& a, const LabeledImage& b) {
              return a.path < b.path;
            });
  return images;
}

EvalResult Evaluator::Run(const std::vector<LabeledImage>& images,
                          Progress* progress) {
  EvalResult result;
  result.images = static_cast<int64_t>(images.size());

  v1::ListModelsResponse models;
  if (client_->ListModels(&models).ok()) {
    const std::string& name =
        options_.model.empty() ? models.default_model() : options_.model;
    int64_t newest = -1;
    for (const auto& m : models.models()) {
      bool wanted = options_.version > 0 ? m.version() == options_.version
                                         : m.version() > newest;
      if (m.name() == name && wanted) {
        newest = m.version();
        result.labels.assign(m.labels().begin(), m.labels().end());
      }
    }
  }
  int classes = static_cast<int>(result.labels.size());
  for (const LabeledImage& image : images) {
    classes = std::max(classes, image.label + 1);
  }
  result.confusion.assign(classes, std::vector<int64_t>(classes, 0));

  std::mutex mu;
  std::condition_variable answered;
  int in_flight = 0;  // guarded by mu; so is `result` below

  auto finish = [&](const LabeledImage& image, const grpc::Status& status,
                    const v1::ClassifyResponse& response) {
    std::lock_guard<std::mutex> lock(mu);
    if (status.ok() && response.classes_size() > 0) {
      ++result.ok;
      int predicted = response.classes(0).index();
      if (predicted == image.label) ++result.correct;
      if (predicted >= static_cast<int>(result.confusion.size())) {
        int size = predicted + 1;
        for (auto& row : result.confusion) row.resize(size, 0);
        result.confusion.resize(size, std::vector<int64_t>(size, 0));
      }
      if (predicted >= 0) ++result.confusion[image.label][predicted];
    } else {
      grpc::StatusCode code =
          status.ok() ? grpc::StatusCode::INTERNAL : status.error_code();
      std::string message =
          status.ok() ? "no classes in the response" : status.error_message();
      ++result.errors[StatusCodeName(code)];
      if (result.failures.size() < kFailuresKept) {
        result.failures.push_back(image.path + ": " + StatusCodeName(code) +
                                  ": " + message);
      }
    }
    --in_flight;
    answered.notify_all();
  };

  for (const LabeledImage& image : images) {
    bool read_ok;
    std::string bytes = ReadFile(image.path, read_ok);
    if (!read_ok) {
      v1::ClassifyResponse none;
      {
        std::lock_guard<std::mutex> lock(mu);
        ++in_flight;
      }
      finish(image,
             grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "cannot read the file"),
             none);
      if (progress != nullptr) progress->Add();
      continue;
    }
    {
      std::unique_lock<std::mutex> lock(mu);
      answered.wait(lock, [&] { return in_flight < options_.concurrency; });
      ++in_flight;
    }
    struct Call {
      v1::ClassifyRequest request;
      v1::ClassifyResponse response;
    };
    auto call = std::make_shared<Call>();
    call->request.set_model(options_.model);
    call->request.set_version(options_.version);
    call->request.set_top_k(1);
    call->request.set_graph(v1::GRAPH_DETAIL_NONE);
    call->request.set_image(std::move(bytes));
    client_->ClassifyAsync(call->request, &call->response,
                           [&, call, image](grpc::Status status) {
                             // finish() last: Run() may return right after.
                             if (progress != nullptr) progress->Add();
                             finish(image, status, call->response);
                           });
  }
  std::unique_lock<std::mutex> lock(mu);
  answered.wait(lock, [&] { return in_flight == 0; });
  return result;
}

}  // namespace gcnserve
