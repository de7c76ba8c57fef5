// The engine's own thread pool. OpenBLAS is pinned to one thread and every parallel kernel splits its work
// here, so exactly `size()` threads compute at any time (OpenBLAS threads next to ours cost +34 % in the
// prototype).
#pragma once
#include <cstdint>
#include <functional>

namespace sp {

// Run fn(task) for task in [0, ntasks) on all pool threads (the caller included); returns when all are done.
void parallel_tasks(int64_t ntasks, const std::function<void(int64_t task)>& fn);

// Split [0, n) into at most size() contiguous chunks of at least `grain` items and run fn(begin, end) on each.
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t begin, int64_t end)>& fn);

int pool_size();
void set_pool_size(int n);  // n <= 0: one thread per core

}  // namespace sp
