#ifndef GCNSERVE_SERVER_BASE_CPU_COUNT_H_
#define GCNSERVE_SERVER_BASE_CPU_COUNT_H_

#include <optional>
#include <string_view>

namespace gcnserve {

// The cores this process may use, which the defaults divide among model
// instances (ModelConfig::Instances): the CPUs of its affinity mask
// (`taskset`, a cpuset), capped by the cgroup CPU quota that `docker run
// --cpus` or a Kubernetes CPU limit sets (cgroup v2's cpu.max, else v1's
// cpu.cfs_quota_us / cpu.cfs_period_us), rounded up. At least 1.
// std::thread::hardware_concurrency counts the machine's cores, so a
// container limited to 2 CPUs on a 64-core node would load 64 instances.
int UsableCores();

// The pure rule of UsableCores: `affinity_cpus` capped by `quota_cpus`
// (none: no quota), rounded up, at least 1.
int UsableCores(int affinity_cpus, std::optional<double> quota_cpus);

// The quota in CPUs from cgroup v2's cpu.max ("200000 100000": 2;
// "max 100000": none), or from v1's cpu.cfs_quota_us and cpu.cfs_period_us
// ("-1": none). None for text that is not such a quota.
std::optional<double> CpuMaxQuota(std::string_view cpu_max);
std::optional<double> CfsQuota(std::string_view quota_us,
                               std::string_view period_us);

}  // namespace gcnserve

#endif  // GCNSERVE_SERVER_BASE_CPU_COUNT_H_
