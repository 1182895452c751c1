// A persistent thread pool. Work is split into parts by a static rule that does not
// depend on timing, and every kernel gives each output element to exactly one task,
// so results are bitwise identical for any number of threads.
#pragma once
#include <functional>

namespace pyrnn {

void set_num_threads(int n);  // n >= 1; PYRNN_NUM_THREADS sets the initial value
int get_num_threads();

// Runs task(i) for every i in [0, n_tasks), split into contiguous ranges over the pool.
// Called from inside a task it runs serially (no nested parallelism).
void parallel_for(int n_tasks, const std::function<void(int begin, int end)>& task);

// parallel_for when the work is worth waking the pool for, else the whole range on this thread.
template <class F>
void maybe_parallel(bool worth_it, int n_tasks, F&& task) {
  if (worth_it) {
    parallel_for(n_tasks, task);
  } else if (n_tasks > 0) {
    task(0, n_tasks);
  }
}

}  // namespace pyrnn
