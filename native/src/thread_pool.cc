#include "thread_pool.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace sp {
namespace {

class ThreadPool {
 public:
  explicit ThreadPool(int n) : size_(n) {
    for (int i = 1; i < n; i++) workers_.emplace_back([this] { work_loop(); });
  }
  ~ThreadPool() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
      generation_++;
    }
    wake_.notify_all();
    for (auto& t : workers_) t.join();
  }
  int size() const { return size_; }

  void run(int64_t ntasks, const std::function<void(int64_t)>& fn) {
    if (ntasks <= 0) return;
    if (size_ == 1 || ntasks == 1) {
      for (int64_t t = 0; t < ntasks; t++) fn(t);
      return;
    }
    std::unique_lock<std::mutex> lock(mu_);
    job_ = &fn;
    ntasks_ = ntasks;
    next_.store(0);
    active_ = size_ - 1;
    generation_++;
    lock.unlock();
    wake_.notify_all();
    drain();
    lock.lock();
    done_.wait(lock, [this] { return active_ == 0; });
    job_ = nullptr;
  }

 private:
  void drain() {
    for (;;) {
      int64_t t = next_.fetch_add(1);
      if (t >= ntasks_) return;
      (*job_)(t);
    }
  }
  void work_loop() {
    uint64_t seen = 0;
    for (;;) {
      std::unique_lock<std::mutex> lock(mu_);
      wake_.wait(lock, [&] { return generation_ != seen; });
      seen = generation_;
      if (stop_) return;
      lock.unlock();
      drain();
      lock.lock();
      if (--active_ == 0) done_.notify_one();
    }
  }

  int size_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable wake_, done_;
  uint64_t generation_ = 0;
  bool stop_ = false;
  const std::function<void(int64_t)>* job_ = nullptr;
  int64_t ntasks_ = 0;
  std::atomic<int64_t> next_{0};
  int active_ = 0;
};

int default_threads() {
  if (const char* env = std::getenv("SOFTPROMPT_THREADS")) {
    int n = std::atoi(env);
    if (n > 0) return n;
  }
  unsigned hc = std::thread::hardware_concurrency();
  return hc == 0 ? 1 : static_cast<int>(hc);
}

std::unique_ptr<ThreadPool>& pool() {
  static std::unique_ptr<ThreadPool> p = std::make_unique<ThreadPool>(default_threads());
  return p;
}

}  // namespace

void parallel_tasks(int64_t ntasks, const std::function<void(int64_t)>& fn) { pool()->run(ntasks, fn); }

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  int64_t chunks = std::min<int64_t>(pool_size(), std::max<int64_t>(1, n / std::max<int64_t>(1, grain)));
  int64_t per = (n + chunks - 1) / chunks;
  parallel_tasks(chunks, [&](int64_t c) {
    int64_t b = c * per, e = std::min(n, b + per);
    if (b < e) fn(b, e);
  });
}

int pool_size() { return pool()->size(); }

void set_pool_size(int n) {
  if (n <= 0) n = default_threads();
  if (n == pool()->size()) return;
  pool() = std::make_unique<ThreadPool>(n);
}

}  // namespace sp
