// In-process preprocessing time per image (ImagePreprocessor::Process for a
// 64x64 gray model, the bundled models' input), beside libjpeg-turbo's
// entropy-decoding floor of the same files (bench/jpeg_entropy_decoder.h). Built and run by
// bench/preprocess_time.sh, which compiles it against two versions of the
// preprocessor to compare them side by side.
//
// usage: preprocess_time ROUNDS FILE...
#include <cstdio>
#include <cstdlib>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "bench/jpeg_entropy_decoder.h"
#include "server/decode/image_preprocessor.h"

namespace {

using Clock = std::chrono::steady_clock;

std::string Read(const char* path) {
  std::ifstream file(path, std::ios::binary);
  std::stringstream bytes;
  bytes << file.rdbuf();
  return bytes.str();
}

double Ms(Clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s ROUNDS FILE...\n", argv[0]);
    return 2;
  }
  const int rounds = std::atoi(argv[1]);
  gcnserve::InputSpec spec;
  spec.height = 64;
  spec.width = 64;
  spec.channels = 1;
  spec.color = "gray";
  spec.mean = {0.286f};
  spec.std = {0.353f};
  gcnserve::ImagePreprocessor preprocessor(spec, 50'000'000);
  std::vector<std::string> files;
  for (int i = 2; i < argc; ++i) files.push_back(Read(argv[i]));
  for (const std::string& file : files) {  // warm up; check every file decodes
    if (!preprocessor.Process(file).ok()) {
      std::fprintf(stderr, "cannot preprocess one of the files\n");
      return 1;
    }
    (void)gcnserve::EntropyDecodeJpeg(file);
  }
  double preprocess = 0, floor = 0;
  for (int r = 0; r < rounds; ++r) {
    for (const std::string& file : files) {
      Clock::time_point a = Clock::now();
      auto image = preprocessor.Process(file);
      Clock::time_point b = Clock::now();
      (void)gcnserve::EntropyDecodeJpeg(file);
      Clock::time_point c = Clock::now();
      preprocess += Ms(b - a);
      floor += Ms(c - b);
    }
  }
  const double n = static_cast<double>(rounds) * files.size();
  std::printf("%.2f %.2f\n", preprocess / n, floor / n);
  return 0;
}
