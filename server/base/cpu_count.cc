#include "server/base/cpu_count.h"

#include <sched.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"

namespace gcnserve {
namespace {

// absl 20220623 as Debian builds it has its own string_view.
absl::string_view Absl(std::string_view s) { return {s.data(), s.size()}; }

std::optional<double> Ratio(absl::string_view quota, absl::string_view period) {
  int64_t q = 0, p = 0;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(quota), &q) ||
      !absl::SimpleAtoi(absl::StripAsciiWhitespace(period), &p) || q <= 0 ||
      p <= 0) {
    return std::nullopt;
  }
  return static_cast<double>(q) / static_cast<double>(p);
}

std::string ReadText(const char* path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

std::optional<double> CpuMaxQuota(std::string_view cpu_max) {
  std::vector<absl::string_view> fields = absl::StrSplit(
      absl::StripAsciiWhitespace(Absl(cpu_max)), ' ', absl::SkipEmpty());
  if (fields.size() != 2) return std::nullopt;
  return Ratio(fields[0], fields[1]);  // "max" is no number: none
}

std::optional<double> CfsQuota(std::string_view quota_us,
                               std::string_view period_us) {
  return Ratio(Absl(quota_us), Absl(period_us));  // -1: none
}

int UsableCores(int affinity_cpus, std::optional<double> quota_cpus) {
  int cores = std::max(1, affinity_cpus);
  if (quota_cpus.has_value()) {
    cores = std::min(cores, static_cast<int>(std::ceil(*quota_cpus - 1e-9)));
  }
  return std::max(1, cores);
}

int UsableCores() {
  cpu_set_t set;
  int affinity = static_cast<int>(std::thread::hardware_concurrency());
  if (sched_getaffinity(0, sizeof set, &set) == 0) affinity = CPU_COUNT(&set);
  std::optional<double> quota = CpuMaxQuota(ReadText("/sys/fs/cgroup/cpu.max"));
  if (!quota.has_value()) {
    quota = CfsQuota(ReadText("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"),
                     ReadText("/sys/fs/cgroup/cpu/cpu.cfs_period_us"));
  }
  return UsableCores(affinity, quota);
}

}  // namespace gcnserve
