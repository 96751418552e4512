#include "server/base/allocator.h"

#include <sys/types.h>

#include <cstddef>
#include <string>

#include <jemalloc/jemalloc.h>

#include "absl/strings/str_cat.h"

// jemalloc reads this at its start, before MALLOC_CONF; allocator.h says why.
extern "C" const char* malloc_conf;
const char* malloc_conf = "background_thread:true,oversize_threshold:0";

namespace gcnserve {
namespace {

template <typename T>
bool Read(const char* name, T& value) {
  size_t size = sizeof(T);
  return mallctl(name, &value, &size, nullptr, 0) == 0;
}

}  // namespace

std::string AllocatorDescription() {
  const char* version = nullptr;
  bool background_thread = false;
  size_t oversize_threshold = 0;
  if (!Read("version", version) || !Read("background_thread", background_thread) ||
      !Read("opt.oversize_threshold", oversize_threshold)) {
    return "system malloc";
  }
  return absl::StrCat("jemalloc ", version, " (background_thread:",
                      background_thread ? "true" : "false",
                      ", oversize_threshold:", oversize_threshold, ")");
}

bool KeepFreedPages() {
  ssize_t never = -1;
  unsigned arenas = 0;
  if (!Read("arenas.narenas", arenas)) return false;
  for (const char* decay : {"dirty_decay_ms", "muzzy_decay_ms"}) {
    // The default of arenas made later, then each existing one.
    std::string name = absl::StrCat("arenas.", decay);
    if (mallctl(name.c_str(), nullptr, nullptr, &never, sizeof never) != 0) {
      return false;
    }
    for (unsigned i = 0; i < arenas; ++i) {
      name = absl::StrCat("arena.", i, ".", decay);
      if (mallctl(name.c_str(), nullptr, nullptr, &never, sizeof never) != 0) {
        return false;
      }
    }
  }
  return true;
}

}  // namespace gcnserve
