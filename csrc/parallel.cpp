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

// Jobs are split into parts that threads claim one at a time from a shared counter; the
// calling thread claims too, so a worker that the OS has not scheduled yet costs nothing: the
// caller does its parts. Which thread runs a part never changes what the part computes.
class ThreadPool {
 public:
  explicit ThreadPool(int n_threads) { resize(n_threads); }
  ~ThreadPool() { stop_workers(); }

  int size() const { return n_threads_; }

  void resize(int n_threads) {
    std::lock_guard<std::mutex> serial(run_mutex_);  // never while a parallel region runs
    stop_workers();
    n_threads_ = 1;
    const int want = std::max(1, n_threads);
    try {
      for (int id = 1; id < want; ++id) workers_.emplace_back([this] { worker_loop(); });
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
    done_parts_.store(0, std::memory_order_relaxed);
    {
      // A new generation with no part claimed yet: (generation << 32) | next part.
      std::lock_guard<std::mutex> lock(mutex_);
      const unsigned long long gen = (state_.load(std::memory_order_relaxed) >> 32) + 1;
      state_.store(gen << 32, std::memory_order_release);
    }
    wake_.notify_all();
    work(state_.load(std::memory_order_acquire) >> 32);
    for (int spin = 0; done_parts_.load(std::memory_order_acquire) != parts; ++spin) {
      if (spin < kSpinIterations) {
        cpu_relax();
      } else {
        std::unique_lock<std::mutex> lock(mutex_);
        done_.wait(lock, [&] { return done_parts_.load(std::memory_order_acquire) == parts; });
      }
    }
    task_ = nullptr;
    if (error_) std::rethrow_exception(error_);
  }


 private:
  // Claims and runs parts of generation `gen` until none is left. A part is claimed by one
  // compare-exchange on the state word, so a thread still holding an old generation can never
  // claim a part of a newer job; the job's fields stay valid while any of its parts is unfinished.
  void work(unsigned long long gen) {
    for (;;) {
      unsigned long long s = state_.load(std::memory_order_acquire);
      int part;
      do {
        if ((s >> 32) != gen) return;
        part = static_cast<int>(s & 0xffffffffu);
        if (part >= n_parts_.load(std::memory_order_relaxed)) return;
      } while (!state_.compare_exchange_weak(s, s + 1, std::memory_order_acq_rel, std::memory_order_acquire));
      run_part(part);
      if (done_parts_.fetch_add(1, std::memory_order_acq_rel) + 1 == n_parts_.load(std::memory_order_relaxed)) {
        std::lock_guard<std::mutex> lock(mutex_);
        done_.notify_one();
      }
    }
  }

  void run_part(int part) {
    const int n_parts = n_parts_.load(std::memory_order_relaxed);
    const int begin = static_cast<int>(static_cast<long long>(n_tasks_) * part / n_parts);
    const int end = static_cast<int>(static_cast<long long>(n_tasks_) * (part + 1) / n_parts);
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

  void worker_loop() {
    enable_flush_denormals();
    unsigned long long seen = state_.load(std::memory_order_acquire) >> 32;
    for (;;) {
      for (int spin = 0; (state_.load(std::memory_order_acquire) >> 32) == seen && !stop_flag_.load(); ++spin) {
        if (spin < kSpinIterations) {
          cpu_relax();
        } else {
          std::unique_lock<std::mutex> lock(mutex_);
          wake_.wait(lock, [&] { return (state_.load(std::memory_order_acquire) >> 32) != seen || stop_flag_.load(); });
        }
      }
      if (stop_flag_.load()) return;
      seen = state_.load(std::memory_order_acquire) >> 32;
      work(seen);
    }
  }

  void stop_workers() {
    if (workers_.empty()) return;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_flag_.store(true);
    }
    wake_.notify_all();
    for (auto& w : workers_) w.join();
    workers_.clear();
    stop_flag_.store(false);
  }

  int n_threads_ = 1;
  std::vector<std::thread> workers_;
  std::mutex run_mutex_, mutex_;
  std::condition_variable wake_, done_;
  std::atomic<unsigned long long> state_{0};  // (generation << 32) | next unclaimed part
  std::atomic<int> n_parts_{1}, done_parts_{0};
  std::atomic<bool> stop_flag_{false};
  const std::function<void(int, int)>* task_ = nullptr;
  int n_tasks_ = 0;
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
