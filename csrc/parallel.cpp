#include "parallel.h"

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <mutex>
#include <sstream>
#include <system_error>
#include <thread>
#include <vector>

#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "cpu.h"

#if defined(PYRNN_X86)
#include <immintrin.h>
static inline void cpu_relax() { _mm_pause(); }
static inline unsigned float_mode() { return _mm_getcsr(); }
static inline void set_float_mode(unsigned csr) { _mm_setcsr(csr); }
#else
static inline void cpu_relax() {}
static inline unsigned float_mode() { return 0; }
static inline void set_float_mode(unsigned) {}
#endif

namespace pyrnn {
namespace {

using Word = std::atomic<std::uint32_t>;
static_assert(sizeof(Word) == sizeof(std::uint32_t), "a futex is a plain 32-bit word");

// Sleep while `w` holds `expected` (returns at once if it does not), and wake every sleeper.
// Correctness never rests on these: every waiter re-checks its atomic condition in a loop.
#if defined(__linux__)
void futex_wait(Word& w, std::uint32_t expected) {
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&w), FUTEX_WAIT_PRIVATE, expected, nullptr, nullptr, 0);
}
void futex_wake_all(Word& w) {
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&w), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr, 0);
}
#else
void futex_wait(Word& w, std::uint32_t expected) {
  if (w.load() == expected) std::this_thread::sleep_for(std::chrono::microseconds(50));
}
void futex_wake_all(Word&) {}
#endif

double now_us() {
  using namespace std::chrono;
  return duration<double, std::micro>(steady_clock::now().time_since_epoch()).count();
}

// Inside a task (or a worker): a nested parallel_for runs on this thread.
thread_local bool tls_in_parallel = false;

struct InTask {
  InTask() { tls_in_parallel = true; }
  ~InTask() { tls_in_parallel = false; }
};

// Parts per thread: enough that a thread which is descheduled (or never woke) leaves work the
// others can take, few enough that a part stays a sizeable, cache-friendly run of tasks.
constexpr int kPartsPerThread = 4;
constexpr int kMaxParts = 0xffff;  // a part index fits the 16-bit fields of a home word
// An idle worker polls for a new job, then polls and yields its core to anything else runnable,
// then sleeps on a futex. The time loop of an RNN posts a job per step, µs apart.
constexpr double kWorkerSpinUs = 30, kWorkerYieldUs = 300;
// A caller that has claimed every part waits for the parts still running: the last one is
// usually no further away than the caller's own share took. Past about that (at least
// kCallerSpinUs) it sleeps, so that its core is free for the thread it waits for.
constexpr double kCallerSpinUs = 20;
// Contention. A caller that waited much longer than the job's own work for a part held by
// another thread (descheduled by the OS mid-part: other processes want the cores) runs the next
// jobs alone for a while: kBackoffMinUs after a first stall, twice as long after each further
// one, and half as long again after each kDecayUs of stall-free parallel jobs. Meanwhile the
// workers sleep as soon as a job is done instead of spinning: a thread that spins uses up its
// time slice and is then preempted at a random moment, quite possibly holding a part, while one
// that sleeps wakes with a fresh slice.
constexpr double kStallMinUs = 200, kStallFactor = 4;
constexpr double kBackoffMinUs = 2000, kBackoffMaxUs = 200000, kDecayUs = 500000;

// A thread's home: the parts it takes first, from the front; other threads take from the back.
// One 64-bit word: (generation << 32) | (front << 16) | back. The generation makes a claim by a
// thread still acting on an earlier job fail: the bounds of a part and the job it belongs to are
// read and changed in one compare-exchange. (The work-claiming pool reverted in Nov 2026 kept
// the part bound in a separate variable; a worker of an old generation could read the next
// job's bound, claim an extra part, and push the done-count past the value its caller waited
// for: a hang, seen under 3 threads on 2 cores.)
struct alignas(64) Home {
  std::atomic<std::uint64_t> word{0};
};

inline std::uint64_t home_word(std::uint32_t gen, int front, int back) {
  return (static_cast<std::uint64_t>(gen) << 32) | (static_cast<std::uint64_t>(front) << 16) |
         static_cast<std::uint64_t>(back);
}

bool claim(Home& home, std::uint32_t gen, bool from_front, int* part) {
  std::uint64_t w = home.word.load(std::memory_order_acquire);
  for (;;) {
    if (static_cast<std::uint32_t>(w >> 32) != gen) return false;
    const int front = static_cast<int>((w >> 16) & 0xffff), back = static_cast<int>(w & 0xffff);
    if (front >= back) return false;
    const std::uint64_t next = from_front ? home_word(gen, front + 1, back) : home_word(gen, front, back - 1);
    if (home.word.compare_exchange_weak(w, next, std::memory_order_acq_rel, std::memory_order_acquire)) {
      *part = from_front ? front : back - 1;
      return true;
    }
  }
}

using Task = std::function<void(int, int)>;

class ThreadPool {
 public:
  explicit ThreadPool(int n_threads) { start_workers(n_threads); }
  ~ThreadPool() { stop_workers(); }

  int size() const { return n_threads_.load(std::memory_order_relaxed); }

  // Never while a job runs (run_mutex_). If not every thread can be started, the pool goes back
  // to `previous` threads and the error is rethrown.
  void resize(int n_threads) {
    std::lock_guard<std::mutex> serial(run_mutex_);
    const int previous = size();
    stop_workers();
    try {
      start_workers(n_threads);
    } catch (...) {
      stop_workers();
      try {
        start_workers(previous);
      } catch (...) {
        stop_workers();  // single-threaded, but consistent
      }
      throw;
    }
  }

  void run(int n_tasks, const Task& task) {
    if (n_tasks <= 0) return;
    if (tls_in_parallel) return task(0, n_tasks);
    if (n_tasks == 1 || size() <= 1) return alone(n_tasks, task);
    std::unique_lock<std::mutex> serial(run_mutex_, std::try_to_lock);
    if (!serial.owns_lock()) return alone(n_tasks, task);  // another thread's job (or a resize) is on
    const double t0 = now_us();
    if (t0 < solo_until_) {
      solo_jobs_.fetch_add(1, std::memory_order_relaxed);
      return alone(n_tasks, task);
    }
    const int n = size();
    const int parts = std::min({n_tasks, n * kPartsPerThread, kMaxParts});
    std::uint32_t gen = seq_.load(std::memory_order_relaxed) + 1;
    if (gen == 0) gen = 1;  // 0 marks a home that never held a job
    task_ = &task;
    csr_ = float_mode();
    n_tasks_ = n_tasks;
    n_parts_ = parts;
    error_ = nullptr;
    done_.store(0, std::memory_order_relaxed);
    for (int i = 0; i < n; ++i)
      homes_[i].word.store(home_word(gen, parts * i / n, parts * (i + 1) / n), std::memory_order_release);
    seq_.store(gen, std::memory_order_seq_cst);
    if (sleepers_.load(std::memory_order_seq_cst) > 0) futex_wake_all(seq_);
    {
      InTask in_task;
      work(0, gen);
    }
    const double t1 = now_us();
    wait_done(static_cast<std::uint32_t>(parts), std::clamp(2 * (t1 - t0), kCallerSpinUs, kStallMinUs));
    const double t2 = now_us();
    task_ = nullptr;
    parallel_jobs_.fetch_add(1, std::memory_order_relaxed);
    if (t2 - t1 > std::max(kStallMinUs, kStallFactor * (t1 - t0))) {
      back_off(t2);
    } else if ((clean_us_ += t2 - t0) > kDecayUs) {
      clean_us_ = 0;
      backoff_us_ = std::max(kBackoffMinUs, backoff_us_ / 2);
      contended_.store(backoff_us_ > kBackoffMinUs, std::memory_order_relaxed);
    }
    // Taken out of the pool while the job is still ours: the next job must not share the object.
    std::exception_ptr error = std::move(error_);
    error_ = nullptr;
    if (error) std::rethrow_exception(error);
  }

  PoolStats stats() const {
    return {parallel_jobs_.load(std::memory_order_relaxed), solo_jobs_.load(std::memory_order_relaxed),
            stalls_.load(std::memory_order_relaxed)};
  }

 private:
  static void alone(int n_tasks, const Task& task) {
    InTask in_task;
    task(0, n_tasks);
  }

  void back_off(double now) {
    stalls_.fetch_add(1, std::memory_order_relaxed);
    solo_until_ = now + backoff_us_;
    backoff_us_ = std::min(kBackoffMaxUs, 2 * backoff_us_);
    clean_us_ = 0;
    contended_.store(true, std::memory_order_relaxed);
  }

  // Claims and runs parts of job `gen`: first from this thread's home, then from the others'.
  void work(int slot, std::uint32_t gen) {
    const int n = static_cast<int>(homes_.size());
    int part;
    while (claim(homes_[slot], gen, true, &part)) run_part(part);
    for (int k = 1; k < n; ++k) {
      Home& other = homes_[(slot + k) % n];
      while (claim(other, gen, false, &part)) run_part(part);
    }
  }

  // A claimed part keeps its job alive (the caller waits for it), so the job's fields are valid
  // here; they are copied before the part is counted done, after which they may change.
  void run_part(int part) {
    const int parts = n_parts_, tasks = n_tasks_;
    const Task& task = *task_;
    const int begin = static_cast<int>(static_cast<long long>(tasks) * part / parts);
    const int end = static_cast<int>(static_cast<long long>(tasks) * (part + 1) / parts);
    // The caller's floating-point mode (its DenormalGuard: flush-to-zero, denormals-are-zero)
    // on every thread of the job, so that a row's result and speed do not depend on which thread
    // computed it.
    const unsigned saved = float_mode();
    if (saved != csr_) set_float_mode(csr_);
    try {
      if (begin < end) task(begin, end);
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex_);
      if (!error_) error_ = std::current_exception();
    }
    if (saved != csr_) set_float_mode(saved);
    if (done_.fetch_add(1, std::memory_order_seq_cst) + 1 == static_cast<std::uint32_t>(parts) &&
        caller_waiting_.load(std::memory_order_seq_cst))
      futex_wake_all(done_);
  }

  // Spins up to spin_us (about the time the caller's own share took), then sleeps.
  void wait_done(std::uint32_t parts, double spin_us) {
    const double start = now_us();
    for (int i = 0; done_.load(std::memory_order_acquire) != parts; ++i) {
      if ((i & 31) == 31 && now_us() - start > spin_us) {
        caller_waiting_.store(1, std::memory_order_seq_cst);
        for (std::uint32_t d; (d = done_.load(std::memory_order_seq_cst)) != parts;) futex_wait(done_, d);
        caller_waiting_.store(0, std::memory_order_relaxed);
        return;
      }
      cpu_relax();
    }
  }

  // The next job's generation, once one is posted after `seen`.
  std::uint32_t wait_for_job(std::uint32_t seen) {
    const double start = now_us();
    for (int i = 0;; ++i) {
      const std::uint32_t g = seq_.load(std::memory_order_acquire);
      if (g != seen) return g;
      if ((i & 15) == 15) {
        if (contended_.load(std::memory_order_relaxed)) break;
        const double waited = now_us() - start;
        if (waited > kWorkerYieldUs) break;
        if (waited > kWorkerSpinUs) sched_yield();
      }
      cpu_relax();
    }
    sleepers_.fetch_add(1, std::memory_order_seq_cst);
    while (seq_.load(std::memory_order_seq_cst) == seen) futex_wait(seq_, seen);
    sleepers_.fetch_sub(1, std::memory_order_seq_cst);
    return seq_.load(std::memory_order_acquire);
  }

  void worker_loop(int slot, std::uint32_t seen) {
    enable_flush_denormals();
    tls_in_parallel = true;
    for (;;) {
      seen = wait_for_job(seen);
      if (stop_.load(std::memory_order_acquire)) return;
      work(slot, seen);
    }
  }

  void start_workers(int n_threads) {
    const int want = std::max(1, n_threads);
    homes_ = std::vector<Home>(want);
    stop_.store(false, std::memory_order_relaxed);
    n_threads_.store(1, std::memory_order_relaxed);
    // A worker starts from the generation current now: it must not act on a job that ended
    // before it existed (a job posted before it first runs is simply done by others).
    const std::uint32_t seen = seq_.load(std::memory_order_acquire);
    for (int slot = 1; slot < want; ++slot) workers_.emplace_back([this, slot, seen] { worker_loop(slot, seen); });
    n_threads_.store(want, std::memory_order_relaxed);
  }

  void stop_workers() {
    if (!workers_.empty()) {
      stop_.store(true, std::memory_order_seq_cst);
      std::uint32_t gen = seq_.load(std::memory_order_relaxed) + 1;
      seq_.store(gen == 0 ? 1 : gen, std::memory_order_seq_cst);
      futex_wake_all(seq_);
      for (auto& w : workers_) w.join();
      workers_.clear();
    }
    n_threads_.store(1, std::memory_order_relaxed);
  }

  std::atomic<int> n_threads_{1};
  std::vector<std::thread> workers_;
  std::vector<Home> homes_;  // one per thread; slot 0 is the caller's
  std::mutex run_mutex_, error_mutex_;
  Word seq_{0};              // generation of the latest job; idle workers wait on it
  Word sleepers_{0};         // workers asleep on seq_
  Word done_{0};             // parts of the current job finished
  Word caller_waiting_{0};   // the caller sleeps on done_
  std::atomic<bool> stop_{false};
  // The current job (written by its caller before the homes are published).
  const Task* task_ = nullptr;
  unsigned csr_ = 0;  // the job's MXCSR
  int n_tasks_ = 0, n_parts_ = 1;
  std::exception_ptr error_;
  // Contention back-off (caller side, under run_mutex_).
  double solo_until_ = 0, backoff_us_ = kBackoffMinUs, clean_us_ = 0;
  std::atomic<bool> contended_{false};  // stalls lately: workers sleep right after a job
  std::atomic<unsigned long long> parallel_jobs_{0}, solo_jobs_{0}, stalls_{0};
};

// Computations hold `use` shared, set_num_threads exclusively; set_num_threads first closes the
// gate so that computations running back to back cannot starve it. Both the locks and the pool
// are re-created in a forked child (a thread that held them in the parent does not exist there;
// the old pool's threads neither) and never destroyed: threads may still hold them at exit, and
// joining workers from a static destructor can deadlock.
struct UseLock {
  std::mutex gate;
  std::shared_mutex use;
};
UseLock* use_lock = new UseLock;
ThreadPool* instance = nullptr;

ThreadPool& pool() {
  static std::once_flag once;
  std::call_once(once, [] {
    instance = new ThreadPool(default_num_threads());
    pthread_atfork(nullptr, nullptr, [] {
      instance = new ThreadPool(1);
      use_lock = new UseLock;
    });
  });
  return *instance;
}

int read_int_file(const std::string& path, long long* value) {
  std::ifstream in(path);
  return (in >> *value) ? 1 : 0;
}

// The whole CPUs the cgroups of this process allow (the tightest of its own and its ancestors');
// 0 for no limit.
int cgroup_cpu_limit() {
  int limit = 0;
  const auto tighten = [&](int cpus) {
    if (cpus > 0 && (limit == 0 || cpus < limit)) limit = cpus;
  };
  std::ifstream groups("/proc/self/cgroup");
  for (std::string line; std::getline(groups, line);) {
    if (line.rfind("0::", 0) == 0) {  // cgroup v2: "0::/path"
      std::string path = line.substr(3);
      for (;;) {
        std::ifstream max("/sys/fs/cgroup" + (path == "/" ? std::string() : path) + "/cpu.max");
        std::string text;
        if (std::getline(max, text)) tighten(cpus_from_cpu_max(text));
        if (path.empty() || path == "/") break;
        const auto slash = path.find_last_of('/');
        path = slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
      }
    }
  }
  long long quota = 0, period = 0;  // cgroup v1, as a container sees its own group
  if (read_int_file("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", &quota) &&
      read_int_file("/sys/fs/cgroup/cpu/cpu.cfs_period_us", &period) && quota > 0 && period > 0)
    tighten(static_cast<int>(std::max(1LL, quota / period)));
  return limit;
}

}  // namespace

int cpus_from_cpu_max(const std::string& line) {
  std::istringstream in(line);
  std::string quota;
  long long period = 0;
  if (!(in >> quota >> period) || quota == "max" || period <= 0) return 0;
  char* end = nullptr;
  errno = 0;
  const long long q = std::strtoll(quota.c_str(), &end, 10);
  if (errno != 0 || end == quota.c_str() || *end != '\0' || q <= 0) return 0;
  return static_cast<int>(std::min<long long>(INT_MAX, std::max(1LL, q / period)));
}

int default_num_threads() {
  if (const char* env = std::getenv("PYRNN_NUM_THREADS")) {
    const int n = std::atoi(env);
    if (n >= 1) return n;
  }
  int cpus = 0;
#if defined(__linux__)
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) cpus = CPU_COUNT(&set);
#endif
  if (cpus <= 0) cpus = static_cast<int>(std::thread::hardware_concurrency());
  if (cpus <= 0) cpus = 1;
  const int quota = cgroup_cpu_limit();
  return quota > 0 ? std::min(cpus, quota) : cpus;
}

PoolUse::PoolUse() {
  pool();  // the locks are (re)made with the pool
  std::lock_guard<std::mutex> gate(use_lock->gate);
  lock_ = std::shared_lock<std::shared_mutex>(use_lock->use);
}

void set_num_threads(int n) {
  ThreadPool& p = pool();
  std::lock_guard<std::mutex> gate(use_lock->gate);               // no new computation starts
  std::unique_lock<std::shared_mutex> exclusive(use_lock->use);  // and none is running
  if (n != p.size()) p.resize(n);
}

int get_num_threads() { return pool().size(); }

void parallel_for(int n_tasks, const Task& task) { pool().run(n_tasks, task); }

PoolStats pool_stats() { return pool().stats(); }

}  // namespace pyrnn
