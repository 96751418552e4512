// In-process preprocessing time per image, ImagePreprocessor::Process for
// two inputs: the bundled models' 64x64 gray one and a 224x224 RGB one
// (ImageNet's mean and std, as the paper-size presets export), beside
// libjpeg-turbo's entropy-decoding floor of the same files
// (bench/jpeg_entropy_decoder.h), each file timed all three ways in turn.
// Linked with the server's allocator (server/base/allocator.cc's jemalloc
// options); preprocess_time.sh keeps freed pages (MALLOC_CONF), as
// gcnserve_limit preprocess does, so that no timing counts page faults on
// the buffers each image frees and the next allocates again. Built and run by
// bench/preprocess_time.sh, which compiles it against two
// versions of the preprocessor to compare them side by side.
//
// usage: preprocess_time ROUNDS FILE...
// prints: gray ms, rgb ms and floor ms an image of the thread's CPU time,
// each the median of the rounds' means.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "bench/jpeg_entropy_decoder.h"
#include "server/decode/image_preprocessor.h"

namespace {

// The calling thread's CPU time, in ms: on a shared machine the time this
// work took, where wall time also counts whoever else ran meanwhile.
double CpuMs() {
  timespec now;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return now.tv_sec * 1e3 + now.tv_nsec / 1e6;
}

std::string Read(const char* path) {
  std::ifstream file(path, std::ios::binary);
  std::stringstream bytes;
  bytes << file.rdbuf();
  return bytes.str();
}

gcnserve::InputSpec Gray64() {
  gcnserve::InputSpec spec;
  spec.height = 64;
  spec.width = 64;
  spec.channels = 1;
  spec.color = "gray";
  spec.mean = {0.286f};
  spec.std = {0.353f};
  return spec;
}

gcnserve::InputSpec Rgb224() {
  gcnserve::InputSpec spec;
  spec.height = 224;
  spec.width = 224;
  spec.channels = 3;
  spec.color = "rgb";
  spec.mean = {0.485f, 0.456f, 0.406f};
  spec.std = {0.229f, 0.224f, 0.225f};
  return spec;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s ROUNDS FILE...\n", argv[0]);
    return 2;
  }
  const int rounds = std::atoi(argv[1]);
  const gcnserve::ImagePreprocessor gray(Gray64(), 50'000'000);
  const gcnserve::ImagePreprocessor rgb(Rgb224(), 50'000'000);
  std::vector<std::string> files;
  for (int i = 2; i < argc; ++i) files.push_back(Read(argv[i]));
  for (const std::string& file : files) {  // warm up; check every file decodes
    if (!gray.Process(file).ok() || !rgb.Process(file).ok() ||
        !gcnserve::EntropyDecodeJpeg(file).ok()) {
      std::fprintf(stderr, "cannot preprocess one of the files\n");
      return 1;
    }
  }
  // Per round, the mean over the files; printed, the median round (on a
  // shared machine a round whose caches another process took is an
  // outlier, not the cost).
  std::vector<double> gray_ms, rgb_ms, floor_ms;
  for (int r = 0; r < rounds; ++r) {
    double round[3] = {0, 0, 0};
    for (const std::string& file : files) {
      const double a = CpuMs();
      (void)gray.Process(file);
      const double b = CpuMs();
      (void)rgb.Process(file);
      const double c = CpuMs();
      (void)gcnserve::EntropyDecodeJpeg(file);
      const double d = CpuMs();
      round[0] += b - a;
      round[1] += c - b;
      round[2] += d - c;
    }
    gray_ms.push_back(round[0] / files.size());
    rgb_ms.push_back(round[1] / files.size());
    floor_ms.push_back(round[2] / files.size());
  }
  std::printf("%.2f %.2f %.2f\n", Median(gray_ms), Median(rgb_ms),
              Median(floor_ms));
  return 0;
}
