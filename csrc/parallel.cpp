#include "parallel.h"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "cpu.h"

#if defined(PYRNN_X86)
#include <immintrin.h>
static inline void cpu_relax() { _mm_pause(); }
#else
static inline void cpu_relax() {}
#endif

namespace pyrnn {
namespace {

thread_local bool tls_in_parallel = false;

// Workers spin briefly on a generation counter before sleeping: the time loop of an RNN
// dispatches one small job per step, and waking a sleeping thread costs tens of µs.
constexpr int kSpinIterations = 20000;

class ThreadPool {
 public:
  explicit ThreadPool(int n_threads) { resize(n_threads); }
  ~ThreadPool() { stop_workers(); }

  int size() const { return n_threads_; }

  void resize(int n_threads) {
    std::lock_guard<std::mutex> serial(run_mutex_);  // never while a parallel region runs
    stop_workers();
    stop_ = false;
    n_threads_ = 1;
    const int want = std::max(1, n_threads);
    // A worker starts from the generation current at its creation, not at its first run:
    // a job posted before the thread gets scheduled must not be missed.
    const unsigned long long start = generation_.load(std::memory_order_acquire);
    try {
      for (int id = 1; id < want; ++id) workers_.emplace_back([this, id, start] { worker_loop(id, start); });
    } catch (...) {  // could not start them all: count only the threads that exist
      n_threads_ = 1 + static_cast<int>(workers_.size());
      throw;
    }
    n_threads_ = want;
  }

  void run(int n_tasks, const std::function<void(int, int)>& task) {
    const int parts = std::min(n_threads_, n_tasks);
    if (parts <= 1 || tls_in_parallel) {
      if (n_tasks > 0) task(0, n_tasks);
      return;
    }
    std::lock_guard<std::mutex> serial(run_mutex_);  // one parallel region at a time
    task_ = &task;
    n_tasks_ = n_tasks;
    n_parts_ = parts;
    error_ = nullptr;
    // Every worker acknowledges every generation (even with no part to run), so no
    // worker can see a later job's fields while still finishing an earlier one.
    remaining_.store(n_threads_ - 1, std::memory_order_relaxed);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    run_part(0);
    for (int spin = 0; remaining_.load(std::memory_order_acquire) != 0; ++spin) {
      if (spin < kSpinIterations) {
        cpu_relax();
      } else {
        std::unique_lock<std::mutex> lock(mutex_);
        done_.wait(lock, [this] { return remaining_.load(std::memory_order_acquire) == 0; });
      }
    }
    task_ = nullptr;
    if (error_) std::rethrow_exception(error_);
  }


 private:
  void run_part(int part) {
    const int begin = static_cast<int>(static_cast<long long>(n_tasks_) * part / n_parts_);
    const int end = static_cast<int>(static_cast<long long>(n_tasks_) * (part + 1) / n_parts_);
    if (begin >= end) return;
    tls_in_parallel = true;
    try {
      (*task_)(begin, end);
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!error_) error_ = std::current_exception();
    }
    tls_in_parallel = false;
  }

  void worker_loop(int id, unsigned long long seen) {
    enable_flush_denormals();
    for (;;) {
      for (int spin = 0; generation_.load(std::memory_order_acquire) == seen; ++spin) {
        if (spin < kSpinIterations) {
          cpu_relax();
        } else {
          std::unique_lock<std::mutex> lock(mutex_);
          wake_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
        }
      }
      seen = generation_.load(std::memory_order_acquire);
      if (stop_) return;
      if (id < n_parts_) run_part(id);
      if (remaining_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard<std::mutex> lock(mutex_);
        done_.notify_one();
      }
    }
  }

  void stop_workers() {
    if (workers_.empty()) return;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    for (auto& w : workers_) w.join();
    workers_.clear();
  }

  int n_threads_ = 1;
  std::vector<std::thread> workers_;
  std::mutex run_mutex_, mutex_;
  std::condition_variable wake_, done_;
  std::atomic<unsigned long long> generation_{0};
  std::atomic<int> remaining_{0};
  const std::function<void(int, int)>* task_ = nullptr;
  int n_tasks_ = 0, n_parts_ = 1;
  bool stop_ = false;
  std::exception_ptr error_;
};

int initial_threads() {
  if (const char* env = std::getenv("PYRNN_NUM_THREADS")) {
    const int n = std::atoi(env);
    if (n >= 1) return n;
  }
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

std::mutex* pool_mutex = new std::mutex;
ThreadPool* instance = nullptr;

ThreadPool& pool() {
  // Leaked on purpose: joining threads from a static destructor at interpreter exit can
  // deadlock if the interpreter is torn down while a worker is parked.
  static std::once_flag once;
  std::call_once(once, [] {
    instance = new ThreadPool(initial_threads());
    // After fork() only the forking thread exists in the child. The old pool's mutexes and
    // condition variables may record waiters (or an owner) that do not exist there, and its
    // std::thread handles must not be destroyed: leak it and start afresh, single-threaded.
    pthread_atfork(nullptr, nullptr, [] {
      instance = new ThreadPool(1);
      pool_mutex = new std::mutex;
    });
  });
  return *instance;
}

}  // namespace

void set_num_threads(int n) {
  std::lock_guard<std::mutex> lock(*pool_mutex);
  if (n != pool().size()) pool().resize(n);
}

int get_num_threads() { return pool().size(); }

void parallel_for(int n_tasks, const std::function<void(int, int)>& task) { pool().run(n_tasks, task); }

}  // namespace pyrnn
