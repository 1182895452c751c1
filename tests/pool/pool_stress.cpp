// Stress test of the thread pool (csrc/parallel.cpp), built and run by tests/pool/run.sh, also
// under ThreadSanitizer. Each repetition resizes the pool (1-8 threads, more than the machine's
// cores) and runs many short jobs of varying sizes from two calling threads at once, while a
// third thread resizes the pool at random; tasks nest, some throw. Every task index must run
// exactly once per job (plain ints: a second writer is a data race that TSan reports), every
// exception must reach its caller, and nothing may hang (a watchdog aborts after --timeout s).
// Without TSan it also forks: the child must compute, single-threaded and then on new threads.
//
//   pool_stress [repetitions=1000] [timeout_s=900] [fork=1]
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "parallel.h"

namespace {

std::atomic<long long> jobs_run{0};

void fail(const std::string& what) {
  std::fprintf(stderr, "pool_stress: FAILED: %s\n", what.c_str());
  std::fflush(stderr);
  std::_Exit(1);
}

// One job of n tasks; returns normally iff every index ran once (and the planned throw arrived).
void one_job(std::mt19937& rng) {
  const int n = std::uniform_int_distribution<int>(0, 300)(rng);
  const int kind = std::uniform_int_distribution<int>(0, 9)(rng);
  std::vector<int> hits(n, 0);
  const int throw_at = kind == 0 && n > 0 ? std::uniform_int_distribution<int>(0, n - 1)(rng) : -1;
  bool threw = false;
  pyrnn::PoolUse use;
  try {
    pyrnn::parallel_for(n, [&](int begin, int end) {
      if (begin < 0 || end > n || begin >= end) fail("bad range");
      for (int i = begin; i < end; ++i) {
        if (i == throw_at) throw std::runtime_error("task " + std::to_string(i));
        if (kind == 1) {  // nested: runs on this thread
          int inner = 0;
          pyrnn::parallel_for(3, [&](int b, int e) { inner += e - b; });
          if (inner != 3) fail("nested parallel_for skipped tasks");
        }
        ++hits[i];
      }
    });
  } catch (const std::runtime_error& e) {
    threw = true;
    if (std::string(e.what()) != "task " + std::to_string(throw_at)) fail(std::string("wrong exception: ") + e.what());
  }
  if (throw_at >= 0) {
    if (!threw) fail("an exception from a task was lost");
    return;  // the part that threw stopped early: coverage is not defined
  }
  if (threw) fail("an exception nobody threw");
  for (int i = 0; i < n; ++i)
    if (hits[i] != 1) fail("task " + std::to_string(i) + " of " + std::to_string(n) + " ran " + std::to_string(hits[i]) + " times");
  jobs_run.fetch_add(1, std::memory_order_relaxed);
}

void callers(int rep, int jobs) {
  std::vector<std::thread> threads;
  for (int c = 0; c < 2; ++c)
    threads.emplace_back([rep, jobs, c] {
      std::mt19937 rng(rep * 7919 + c);
      for (int j = 0; j < jobs; ++j) one_job(rng);
    });
  std::thread resizer([rep] {
    std::mt19937 rng(rep);
    for (int k = 0; k < 3; ++k) {
      std::this_thread::sleep_for(std::chrono::microseconds(std::uniform_int_distribution<int>(0, 300)(rng)));
      pyrnn::set_num_threads(std::uniform_int_distribution<int>(1, 8)(rng));
    }
  });
  for (auto& t : threads) t.join();
  resizer.join();
}

void forked_child_computes() {
  const pid_t pid = fork();
  if (pid < 0) fail("fork");
  if (pid == 0) {
    std::mt19937 rng(1);
    if (pyrnn::get_num_threads() != 1) std::_Exit(3);
    for (int j = 0; j < 20; ++j) one_job(rng);
    pyrnn::set_num_threads(3);
    for (int j = 0; j < 50; ++j) one_job(rng);
    std::_Exit(0);
  }
  int status = 0;
  if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    fail("forked child did not compute (status " + std::to_string(status) + ")");
}

}  // namespace

int main(int argc, char** argv) {
  const int reps = argc > 1 ? std::atoi(argv[1]) : 1000;
  const int timeout = argc > 2 ? std::atoi(argv[2]) : 900;
  const bool forks = argc > 3 ? std::atoi(argv[3]) != 0 : true;
  signal(SIGALRM, [](int) {
    const char msg[] = "pool_stress: FAILED: hang (watchdog timeout)\n";
    if (write(2, msg, sizeof(msg) - 1) < 0) {}
    std::_Exit(2);
  });
  alarm(static_cast<unsigned>(timeout));
  for (int rep = 0; rep < reps; ++rep) {
    pyrnn::set_num_threads(1 + rep % 8);
    callers(rep, 40);
    if (forks && rep % 100 == 99) forked_child_computes();
  }
  std::printf("pool_stress: %d repetitions, %lld jobs checked, pool stats: %llu parallel, %llu solo, %llu stalls\n",
              reps, jobs_run.load(), pyrnn::pool_stats().parallel_jobs, pyrnn::pool_stats().solo_jobs,
              pyrnn::pool_stats().stalls);
  return 0;
}
