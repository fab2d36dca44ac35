// pool.cpp — WorkerPool: thread start and stop, runs, and the main-thread call queue.
//
// One mutex guards the run's bookkeeping; the only thing touched per task is the atomic
// index counter. A run is published by bumping generation_ under the mutex and waking the
// workers; the task pointer and count are read under that mutex, so plain fields suffice.
// The caller of run() stays in its wait loop until every participant has reported back AND
// the call queue is empty, and only then clears running_ (under the same lock): so a worker
// that posted a call is always answered, and a late poster sees running_ false.
#include "px/runtime.h"

#include "signals.h"

#include <pthread.h>
#include <sched.h>

#include <stdexcept>
#include <utility>

namespace px::runtime {
namespace {

// cancel() stores this into the index counter so that every later fetch_add is past any task
// count. Far from SIZE_MAX: each worker adds at most one more after it.
constexpr std::size_t kCancelledIndex = SIZE_MAX / 2;

} // namespace

unsigned cpu_count() {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0)
            return static_cast<unsigned>(n);
    }
    unsigned n = std::thread::hardware_concurrency();
    return n > 0 ? n : 1;
}

// A call_on_main() request; lives on the poster's stack until `done`.
struct WorkerPool::MainCall {
    const std::function<void()>* fn;
    std::exception_ptr error;
    bool done = false;
};

WorkerPool::WorkerPool(PoolOptions options) : options_(std::move(options)) {
    count_ = options_.workers != 0 ? options_.workers : cpu_count();
    workers_.reset(new Worker[count_]);
    unsigned created = 0;
    try {
        BlockSignals blocked;
        for (; created < count_; ++created) {
            Worker& w = workers_[created];
            w.id_ = created + 1;
            w.thread_ = std::thread([this, &w] { worker_main(w); });
        }
    } catch (...) {
        // Thread creation failed: the threads already running must not outlive the pool.
        {
            std::unique_lock lock(mutex_);
            main_cv_.wait(lock, [&] { return ready_ == created; });
        }
        count_ = created;
        stop_and_join();
        throw;
    }
    std::exception_ptr error;
    {
        std::unique_lock lock(mutex_);
        main_cv_.wait(lock, [&] { return ready_ == count_; });
        error = start_error_;
    }
    if (error) {
        stop_and_join();
        std::rethrow_exception(error);
    }
}

WorkerPool::~WorkerPool() { stop_and_join(); }

void WorkerPool::stop_and_join() noexcept {
    {
        std::lock_guard lock(mutex_);
        stop_ = true;
    }
    work_cv_.notify_all();
    for (unsigned i = 0; i < count_; ++i)
        if (workers_[i].thread_.joinable())
            workers_[i].thread_.join();
}

void WorkerPool::worker_main(Worker& w) {
    std::exception_ptr error;
    try {
        w.heap_.emplace(options_.heap);
        w.context_ = px::Context{&*w.heap_, w.id_, &w};
        if (options_.thread_start)
            options_.thread_start(w);
        w.started_ = true;
    } catch (...) {
        error = std::current_exception();
    }

    std::unique_lock lock(mutex_);
    if (error && !start_error_)
        start_error_ = error;
    ++ready_;
    main_cv_.notify_one();

    for (;;) {
        work_cv_.wait(lock, [&] { return stop_ || generation_ != w.seen_generation_; });
        if (stop_)
            break;
        w.seen_generation_ = generation_;
        if (w.id_ > participants_)
            continue;
        const Task* task = task_;
        std::size_t tasks = tasks_;
        lock.unlock();
        work(w, *task, tasks);
        lock.lock();
    }
    lock.unlock();

    if (w.started_ && options_.thread_stop) {
        try {
            options_.thread_stop(w);
        } catch (...) {
            // Nothing to report it to at destruction; the heap still goes below.
        }
    }
    w.context_.heap = nullptr;
    w.heap_.reset();
}

// One participant's share of a run: take indices until they run out, then report back.
void WorkerPool::work(Worker& w, const Task& task, std::size_t tasks) {
    std::size_t started = 0, finished = 0;
    for (;;) {
        std::size_t i = next_.fetch_add(1, std::memory_order_relaxed);
        if (i >= tasks)
            break;
        ++started;
        try {
            task(w, i);
            ++finished;
        } catch (...) {
            record_error(std::current_exception());
        }
    }
    std::lock_guard lock(mutex_);
    started_ += started;
    finished_ += finished;
    if (--active_ == 0)
        main_cv_.notify_one();
}

void WorkerPool::record_error(std::exception_ptr e) {
    {
        std::lock_guard lock(mutex_);
        if (!error_)
            error_ = std::move(e);
    }
    cancel();
}

void WorkerPool::cancel() noexcept {
    // The counter first: once cancelled() is true no index can be handed out any more.
    next_.store(kCancelledIndex, std::memory_order_seq_cst);
    cancelled_.store(true, std::memory_order_seq_cst);
}

RunResult WorkerPool::run(std::size_t tasks, const Task& task, const std::function<bool()>& idle,
                          std::chrono::milliseconds tick, unsigned use_workers) {
    if (tasks >= kCancelledIndex)
        throw std::length_error("px::runtime::WorkerPool::run: too many tasks");
    if (tick < std::chrono::milliseconds(1))
        tick = std::chrono::milliseconds(1);

    std::unique_lock lock(mutex_);
    if (running_)
        throw std::logic_error("px::runtime::WorkerPool::run: a run is already in progress "
                               "(run() must not be called concurrently or re-entrantly)");
    unsigned participants = use_workers == 0 || use_workers > count_ ? count_ : use_workers;
    if (tasks < participants)
        participants = static_cast<unsigned>(tasks);
    running_ = true;
    run_thread_ = std::this_thread::get_id();
    task_ = &task;
    tasks_ = tasks;
    participants_ = participants;
    active_ = participants;
    started_ = finished_ = 0;
    error_ = nullptr;
    next_.store(0, std::memory_order_relaxed);
    cancelled_.store(false, std::memory_order_relaxed);
    if (participants > 0) {
        ++generation_;
        work_cv_.notify_all();
    }

    using Clock = std::chrono::steady_clock;
    auto next_idle = Clock::now() + tick;
    for (;;) {
        if (idle && Clock::now() >= next_idle) {
            lock.unlock();
            bool go_on = true;
            std::exception_ptr error;
            try {
                go_on = idle();
            } catch (...) {
                error = std::current_exception();
            }
            if (error)
                record_error(std::move(error));
            else if (!go_on)
                cancel();
            lock.lock();
            next_idle = Clock::now() + tick;
            continue;
        }
        if (!calls_.empty()) {
            MainCall* call = calls_.front();
            calls_.pop_front();
            lock.unlock();
            try {
                (*call->fn)();
            } catch (...) {
                call->error = std::current_exception();
            }
            lock.lock();
            call->done = true;
            calls_cv_.notify_all();
            continue;
        }
        if (active_ == 0)
            break;
        if (idle)
            main_cv_.wait_until(lock, next_idle);
        else
            main_cv_.wait(lock);
    }

    running_ = false;
    run_thread_ = std::thread::id();
    task_ = nullptr;
    RunResult result{started_, finished_, cancelled_.load(std::memory_order_relaxed)};
    std::exception_ptr error = std::exchange(error_, nullptr);
    lock.unlock();
    if (error)
        std::rethrow_exception(error);
    return result;
}

bool WorkerPool::call_on_main(const std::function<void()>& fn) {
    std::unique_lock lock(mutex_);
    if (!running_)
        return false;
    if (run_thread_ == std::this_thread::get_id()) {
        lock.unlock();
        fn();
        return true;
    }
    MainCall call{&fn, nullptr, false};
    calls_.push_back(&call);
    main_cv_.notify_one();
    calls_cv_.wait(lock, [&] { return call.done; });
    lock.unlock();
    if (call.error)
        std::rethrow_exception(call.error);
    return true;
}

} // namespace px::runtime
