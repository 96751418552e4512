#ifndef GCNSERVE_SERVER_BASE_ALLOCATOR_H_
#define GCNSERVE_SERVER_BASE_ALLOCATOR_H_

#include <string>

namespace gcnserve {

// The memory allocator of gcnserve and gcnserve_limit: jemalloc (Debian's
// libjemalloc), linked in, with the options of allocator.cc:
//
// - background_thread:true: pages freed after a burst go back to the system
//   from jemalloc's own thread, so memory comes back after a storm of large
//   images even when no request follows (bench/README.md, "Memory").
// - oversize_threshold:0: jemalloc's default hands every allocation over
//   8 MiB to an arena that returns its pages at once, so buffers that large
//   were faulted in again on every use. With the threshold off they are
//   reused and decay like the rest (dirty_decay_ms, 10 s): at 64 in flight
//   and batch 32 that served about twice the requests of jemalloc's default
//   (bench/README.md).
//
// MALLOC_CONF in the environment still overrides both. Measured against
// glibc malloc and jemalloc's defaults in bench/README.md ("The serving
// table" and "Memory: the allocator").
//
// "jemalloc <version> (background_thread:<bool>, oversize_threshold:<bytes>)"
// for the log at start-up; "system malloc" in a binary without jemalloc.
std::string AllocatorDescription();

// For measurements (gcnserve_limit preprocess): from now on jemalloc keeps
// the pages it frees instead of decaying them back to the system, so that a
// figure does not count page faults on buffers freed and allocated again
// (the entropy-decoding floor of a 12 MP JPEG allocates 36 MB of
// coefficients per image: 2.3x slower when they decay). False without
// jemalloc.
bool KeepFreedPages();

}  // namespace gcnserve

#endif  // GCNSERVE_SERVER_BASE_ALLOCATOR_H_
