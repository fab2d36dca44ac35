// px/runtime.h — the worker pool: N threads, each with a context and a heap of its own.
//
// The contract of px_runtime's pool (no Python in here; the `parallel` module drives it):
//   * A WorkerPool starts its threads in the constructor and returns once every one of them
//     has built its heap and run PoolOptions::thread_start. Each Worker lives at a fixed
//     address for the pool's lifetime, alone on its cache lines.
//   * Worker threads block every asynchronous signal (they inherit a full mask from the
//     constructor, so there is no window), so SIGINT and friends reach the main thread. The
//     synchronous fault signals (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS) stay
//     unblocked: the kernel delivers them to the faulting thread whatever the mask says, and
//     blocking them would only kill the process before a sanitizer or faulthandler can report.
//   * A worker's heap is built, used and destroyed on that worker's thread only.
//   * run() hands out task indices in increasing order from one atomic counter; every index
//     handed out runs exactly once, and the caller waits until all of them have finished.
//     While it waits it serves call_on_main() requests (FIFO) and calls idle() every tick.
//     Workers sleep on a condition variable between runs: no spinning.
//   * The pool does not enter the worker's context: the task decides which part of its work
//     runs inside it (px::ContextScope scope(worker.context())).
//   * A task that throws cancels the run; run() rethrows the first exception once every task
//     it started has finished, and the pool stays usable.
//
// The socket server and its HTTP layer have their own contract in px/server.h, included at
// the end of this header.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "px/guards.h"
#include "px/heap.h"

namespace px::runtime {

// Two 64-byte lines rather than std::hardware_destructive_interference_size: the adjacent-line
// prefetcher pulls lines in pairs, and a constant keeps the layout the same for g++ and clang
// (which disagree on, or lack, that value) in one process.
inline constexpr std::size_t kCacheLine = 128;

class Worker;
class WorkerPool;

// The CPUs this process may run on (its affinity mask), at least 1: the default worker count.
unsigned cpu_count();

struct PoolOptions {
    unsigned workers = 0;                      // 0: the CPUs this process may run on
    px::HeapOptions heap{};                    // options of each worker's context heap
    std::function<void(Worker&)> thread_start; // on each worker thread, once, before any task
    std::function<void(Worker&)> thread_stop;  // on each worker thread, once, at destruction
};

struct RunResult {
    std::size_t started = 0;  // tasks begun (indices handed out); all have ended
    std::size_t finished = 0; // tasks that returned normally
    bool cancelled = false;   // by idle(), cancel() or an exception
};

// One worker thread's state. The pool owns it; a task and the thread hooks get it by reference.
class alignas(kCacheLine) Worker {
public:
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;
    ~Worker() = default;

    unsigned id() const noexcept { return id_; }         // 1..N
    px::Context& context() noexcept { return context_; } // {&heap(), id(), this}
    px::Heap& heap() noexcept { return *heap_; }         // use on this worker's thread only

    void* user = nullptr; // the embedder's slot (e.g. the worker's PyThreadState*)

private:
    friend class WorkerPool;
    Worker() = default;

    unsigned id_ = 0;
    px::Context context_{};
    std::optional<px::Heap> heap_; // built and destroyed on the worker thread
    std::thread thread_;
    bool started_ = false;              // thread_start returned; thread_stop is due
    std::uint64_t seen_generation_ = 0; // the last run this worker looked at
};

class WorkerPool {
public:
    using Task = std::function<void(Worker&, std::size_t)>;

    // Starts the threads and waits until each has run thread_start. If a heap or thread_start
    // throws, the threads that did start run thread_stop, all are joined and the first
    // exception propagates.
    explicit WorkerPool(PoolOptions options);
    ~WorkerPool(); // runs thread_stop on every worker and joins; no run() may be in progress
    WorkerPool(const WorkerPool&) = delete;
    WorkerPool& operator=(const WorkerPool&) = delete;

    unsigned size() const noexcept { return count_; }

    // Runs task(worker, i) for every i in [0, tasks) on at most use_workers workers (0: all).
    // The calling thread blocks until every started task has finished; meanwhile it runs the
    // functions workers pass to call_on_main(), in the order they were posted, and calls
    // idle() (if set) at least every `tick`. idle() returning false cancels the run: no
    // further index is handed out, started tasks finish. An exception from a task or from
    // idle() cancels the run too and is rethrown here (the first one) after all tasks stopped.
    // Calling run() while a run is in progress (from another thread, a task, idle() or a
    // main-thread call) throws std::logic_error.
    RunResult run(std::size_t tasks, const Task& task, const std::function<bool()>& idle,
                  std::chrono::milliseconds tick, unsigned use_workers = 0);

    // Runs fn on the thread blocked in run() and waits for it; an exception from fn is
    // rethrown here. On that thread itself, calls fn directly. Returns false without running
    // fn when no run() is in progress.
    bool call_on_main(const std::function<void()>& fn);

    // Cancels the run in progress (no effect on later runs: each run() starts uncancelled).
    void cancel() noexcept;
    bool cancelled() const noexcept { return cancelled_.load(std::memory_order_acquire); }

private:
    struct MainCall;

    void worker_main(Worker& w);
    void work(Worker& w, const Task& task, std::size_t tasks);
    void record_error(std::exception_ptr e);
    void stop_and_join() noexcept;

    // Handed out by fetch_add; cancel() stores kCancelledIndex. On a line of its own: every
    // worker writes it for every task.
    alignas(kCacheLine) std::atomic<std::size_t> next_{0};
    alignas(kCacheLine) std::atomic<bool> cancelled_{false};

    PoolOptions options_;
    unsigned count_ = 0;
    std::unique_ptr<Worker[]> workers_;

    // Everything below is guarded by mutex_.
    std::mutex mutex_;
    std::condition_variable work_cv_;  // workers: a new run or stop_
    std::condition_variable main_cv_;  // the run() caller: a call posted, workers done, ready
    std::condition_variable calls_cv_; // posters: their call ran
    bool stop_ = false;
    unsigned ready_ = 0;             // workers past their start (constructor waits)
    std::exception_ptr start_error_; // first failure of a heap or thread_start
    std::uint64_t generation_ = 0;   // one per run
    bool running_ = false;           // a run() is in progress
    std::thread::id run_thread_;     // the thread in run()
    const Task* task_ = nullptr;     // the run's task, tasks_ its count
    std::size_t tasks_ = 0;
    unsigned participants_ = 0; // workers 1..participants_ take part
    unsigned active_ = 0;       // participants not done yet
    std::size_t started_ = 0;   // totals, added by each participant when done
    std::size_t finished_ = 0;
    std::exception_ptr error_;    // first exception of this run
    std::deque<MainCall*> calls_; // posted by call_on_main, not yet run
};

} // namespace px::runtime

#include "px/server.h" // IWYU pragma: export
