// The persistent thread pool. A job's range of tasks is cut into parts (more parts than
// threads); the calling thread and the workers claim parts dynamically and the caller finishes
// whatever nobody claimed, so progress never waits for a thread the OS has not scheduled. Every
// kernel gives each output element to exactly one task and computes it the same way whatever
// range it is in, so results are bitwise identical for any thread count and any schedule.
#pragma once
#include <functional>
#include <shared_mutex>
#include <string>

namespace pyrnn {

// Threads the pool starts with: PYRNN_NUM_THREADS if set (>= 1), else the CPUs this process may
// run on (sched_getaffinity) capped by its cgroup CPU quota (cpu.max, or cfs_quota_us in cgroup v1).
int default_num_threads();
// Whole CPUs a cgroup v2 cpu.max line ("quota period" or "max period") allows (floor, >= 1);
// 0 when it sets no limit or cannot be read.
int cpus_from_cpu_max(const std::string& line);

// n >= 1. Waits until no computation holds a PoolUse, resizes, and lets them in again. If the
// threads cannot be started the pool keeps its previous size and std::system_error is thrown.
void set_num_threads(int n);
int get_num_threads();

// Held for the duration of a computation that may call parallel_for: set_num_threads never
// resizes the pool under it. Several computations (from several threads) may hold one at once.
class PoolUse {
 public:
  PoolUse();
 private:
  std::shared_lock<std::shared_mutex> lock_;
};

// Runs task(begin, end) over ranges covering [0, n_tasks) exactly once, on the pool. Called from
// inside a task, or while another thread runs a parallel job, it runs the whole range on the
// calling thread (no nesting, no waiting). An exception from a task is rethrown here after every
// part has finished.
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

// What the pool has seen since the process started (tests and benchmarks read it): jobs run in
// parallel, jobs run on the caller alone because the pool had backed off, and stalls (a job whose
// caller had to wait for a part held by a thread that was not running).
struct PoolStats {
  unsigned long long parallel_jobs, solo_jobs, stalls;
};
PoolStats pool_stats();

}  // namespace pyrnn
