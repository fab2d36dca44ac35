// pool_test.cpp — px::runtime::WorkerPool: runs, thread hooks, main-thread calls,
// cancellation, exceptions, signals and the workers' layout.
#include <gtest/gtest.h>

#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

#include "px/guards.h"
#include "px/heap.h"
#include "px/runtime.h"

namespace px::runtime {
namespace {

using namespace std::chrono_literals;

PoolOptions with_workers(unsigned n) {
    PoolOptions options;
    options.workers = n;
    return options;
}

const std::function<bool()> kNoIdle;

// Runs every index of `tasks` and returns how often each one ran.
std::vector<int> run_counts(WorkerPool& pool, std::size_t tasks, unsigned use_workers,
                            RunResult* result = nullptr) {
    std::unique_ptr<std::atomic<int>[]> counts(new std::atomic<int>[tasks + 1]);
    for (std::size_t i = 0; i <= tasks; ++i)
        counts[i].store(0);
    RunResult r = pool.run(
        tasks, [&](Worker&, std::size_t i) { counts[i].fetch_add(1); }, kNoIdle, 10ms, use_workers);
    if (result != nullptr)
        *result = r;
    std::vector<int> out;
    for (std::size_t i = 0; i < tasks; ++i)
        out.push_back(counts[i].load());
    return out;
}

TEST(PoolTest, SizeIsTheWorkerCount) {
    WorkerPool pool(with_workers(3));
    EXPECT_EQ(pool.size(), 3u);
}

TEST(PoolTest, ZeroWorkersMeansOnePerCpu) {
    WorkerPool pool(PoolOptions{});
    EXPECT_GE(pool.size(), 1u);
}

TEST(PoolTest, EveryIndexRunsExactlyOnce) {
    for (unsigned workers : {1u, 2u, 4u, 7u}) {
        WorkerPool pool(with_workers(workers));
        for (std::size_t tasks : {0u, 1u, 2u, 3u, 5u, 8u, 100u, 5000u}) {
            for (unsigned use : {0u, 1u, 2u, 100u}) {
                RunResult r;
                std::vector<int> counts = run_counts(pool, tasks, use, &r);
                for (std::size_t i = 0; i < tasks; ++i)
                    ASSERT_EQ(counts[i], 1) << "workers " << workers << " tasks " << tasks
                                            << " use " << use << " index " << i;
                EXPECT_EQ(r.started, tasks);
                EXPECT_EQ(r.finished, tasks);
                EXPECT_FALSE(r.cancelled);
            }
        }
    }
}

TEST(PoolTest, ZeroTasksReturnAtOnce) {
    WorkerPool pool(with_workers(2));
    bool ran = false;
    RunResult r = pool.run(
        0, [&](Worker&, std::size_t) { ran = true; }, kNoIdle, 10ms);
    EXPECT_FALSE(ran);
    EXPECT_EQ(r.started, 0u);
    EXPECT_EQ(r.finished, 0u);
    EXPECT_FALSE(r.cancelled);
}

TEST(PoolTest, UseWorkersLimitsTheWorkersThatTakePart) {
    WorkerPool pool(with_workers(4));
    for (unsigned use : {1u, 2u, 3u}) {
        std::mutex m;
        std::set<unsigned> ids;
        pool.run(
            200,
            [&](Worker& w, std::size_t) {
                std::this_thread::sleep_for(50us);
                std::lock_guard lock(m);
                ids.insert(w.id());
            },
            kNoIdle, 10ms, use);
        EXPECT_LE(ids.size(), use);
        for (unsigned id : ids)
            EXPECT_LE(id, use);
    }
}

TEST(PoolTest, ASingleWorkerTakesIndicesInIncreasingOrder) {
    WorkerPool pool(with_workers(3));
    std::vector<std::size_t> order; // one worker: no lock needed
    pool.run(
        50, [&](Worker&, std::size_t i) { order.push_back(i); }, kNoIdle, 10ms, 1);
    ASSERT_EQ(order.size(), 50u);
    for (std::size_t i = 0; i < order.size(); ++i)
        EXPECT_EQ(order[i], i);
}

TEST(PoolTest, ThreadHooksRunOncePerWorkerOnItsThread) {
    constexpr unsigned kWorkers = 4;
    std::mutex m;
    std::vector<std::thread::id> start_thread(kWorkers + 1), stop_thread(kWorkers + 1);
    std::vector<int> starts(kWorkers + 1), stops(kWorkers + 1);
    std::vector<std::thread::id> task_thread(kWorkers + 1);
    PoolOptions options = with_workers(kWorkers);
    options.thread_start = [&](Worker& w) {
        std::lock_guard lock(m);
        ++starts[w.id()];
        start_thread[w.id()] = std::this_thread::get_id();
    };
    options.thread_stop = [&](Worker& w) {
        std::lock_guard lock(m);
        ++stops[w.id()];
        stop_thread[w.id()] = std::this_thread::get_id();
    };
    {
        WorkerPool pool(std::move(options));
        {
            std::lock_guard lock(m);
            for (unsigned id = 1; id <= kWorkers; ++id)
                EXPECT_EQ(starts[id], 1) << "thread_start had run before the constructor returned";
        }
        for (int round = 0; round < 3; ++round) {
            pool.run(
                400,
                [&](Worker& w, std::size_t) {
                    std::this_thread::sleep_for(20us);
                    std::lock_guard lock(m);
                    EXPECT_EQ(start_thread[w.id()], std::this_thread::get_id());
                    task_thread[w.id()] = std::this_thread::get_id();
                },
                kNoIdle, 10ms);
        }
        std::lock_guard lock(m);
        for (unsigned id = 1; id <= kWorkers; ++id)
            EXPECT_EQ(stops[id], 0);
    }
    std::set<std::thread::id> distinct;
    for (unsigned id = 1; id <= kWorkers; ++id) {
        EXPECT_EQ(starts[id], 1);
        EXPECT_EQ(stops[id], 1);
        EXPECT_EQ(stop_thread[id], start_thread[id]);
        EXPECT_NE(start_thread[id], std::this_thread::get_id());
        distinct.insert(start_thread[id]);
    }
    EXPECT_EQ(distinct.size(), kWorkers);
}

TEST(PoolTest, ThreadStartThatThrowsFailsTheConstructor) {
    std::atomic<int> stops{0};
    PoolOptions options = with_workers(3);
    options.thread_start = [](Worker& w) {
        if (w.id() == 2)
            throw std::runtime_error("no thread state");
    };
    options.thread_stop = [&](Worker&) { stops.fetch_add(1); };
    EXPECT_THROW(WorkerPool pool(std::move(options)), std::runtime_error);
    EXPECT_EQ(stops.load(), 2) << "the workers that did start are stopped";
}

TEST(PoolTest, IdsAreOneToNAndEachWorkerHasItsOwnHeap) {
    constexpr unsigned kWorkers = 4;
    std::mutex m;
    std::vector<Worker*> workers(kWorkers + 1, nullptr);
    std::vector<px::Heap*> heaps(kWorkers + 1, nullptr);
    PoolOptions options = with_workers(kWorkers);
    options.thread_start = [&](Worker& w) {
        std::lock_guard lock(m);
        workers.at(w.id()) = &w;
        heaps.at(w.id()) = &w.heap();
    };
    WorkerPool pool(std::move(options));
    std::atomic<int> bad{0};
    pool.run(
        200,
        [&](Worker& w, std::size_t) {
            px::Context& ctx = w.context();
            if (ctx.heap != &w.heap() || ctx.worker != w.id() || ctx.user != &w)
                bad.fetch_add(1);
            void* p = w.heap().alloc(32);
            if (p == nullptr || px::owner_of(p) != &w.heap())
                bad.fetch_add(1);
            w.heap().free(p);
        },
        kNoIdle, 10ms);
    EXPECT_EQ(bad.load(), 0);
    std::set<px::Heap*> distinct;
    for (unsigned id = 1; id <= kWorkers; ++id) {
        ASSERT_NE(workers[id], nullptr);
        EXPECT_EQ(workers[id]->id(), id);
        distinct.insert(heaps[id]);
    }
    EXPECT_EQ(distinct.size(), kWorkers);
}

TEST(PoolTest, WorkersSitOnSeparateCacheLines) {
    constexpr unsigned kWorkers = 4;
    std::mutex m;
    std::vector<std::uintptr_t> addresses;
    PoolOptions options = with_workers(kWorkers);
    options.thread_start = [&](Worker& w) {
        std::lock_guard lock(m);
        addresses.push_back(reinterpret_cast<std::uintptr_t>(&w));
    };
    WorkerPool pool(std::move(options));
    std::lock_guard lock(m);
    ASSERT_EQ(addresses.size(), kWorkers);
    EXPECT_GE(alignof(Worker), 64u);
    EXPECT_EQ(sizeof(Worker) % alignof(Worker), 0u);
    for (std::size_t i = 0; i < addresses.size(); ++i) {
        EXPECT_EQ(addresses[i] % 64, 0u);
        for (std::size_t j = 0; j < i; ++j) {
            std::uintptr_t a = addresses[i], b = addresses[j];
            EXPECT_GE(a > b ? a - b : b - a, 64u);
        }
    }
}

TEST(PoolTest, WorkerAddressesAreStableAcrossRuns) {
    WorkerPool pool(with_workers(3));
    std::mutex m;
    std::vector<Worker*> seen(4, nullptr);
    std::atomic<int> moved{0};
    for (int round = 0; round < 5; ++round) {
        pool.run(
            60,
            [&](Worker& w, std::size_t) {
                std::lock_guard lock(m);
                if (seen[w.id()] == nullptr)
                    seen[w.id()] = &w;
                else if (seen[w.id()] != &w)
                    moved.fetch_add(1);
            },
            kNoIdle, 10ms);
    }
    EXPECT_EQ(moved.load(), 0);
}

TEST(PoolTest, CallOnMainRunsOnTheCallingThreadInOrder) {
    WorkerPool pool(with_workers(2));
    const std::thread::id main_id = std::this_thread::get_id();
    std::vector<int> order; // written on the main thread only
    std::atomic<int> off_main{0};
    pool.run(
        1,
        [&](Worker&, std::size_t) {
            for (int k = 0; k < 100; ++k) {
                bool ok = pool.call_on_main([&, k] {
                    if (std::this_thread::get_id() != main_id)
                        off_main.fetch_add(1);
                    order.push_back(k);
                });
                EXPECT_TRUE(ok);
            }
        },
        kNoIdle, 10ms);
    EXPECT_EQ(off_main.load(), 0);
    ASSERT_EQ(order.size(), 100u);
    for (int k = 0; k < 100; ++k)
        EXPECT_EQ(order[k], k);
}

TEST(PoolTest, CallOnMainFromManyWorkersAtOnce) {
    constexpr unsigned kWorkers = 4;
    constexpr int kCallsPerTask = 20;
    WorkerPool pool(with_workers(kWorkers));
    const std::thread::id main_id = std::this_thread::get_id();
    // Main-thread state, touched only inside the calls.
    std::vector<std::vector<std::pair<std::size_t, int>>> per_task(64);
    int total = 0;
    std::atomic<int> off_main{0};
    pool.run(
        64,
        [&](Worker&, std::size_t i) {
            for (int k = 0; k < kCallsPerTask; ++k) {
                pool.call_on_main([&, i, k] {
                    if (std::this_thread::get_id() != main_id)
                        off_main.fetch_add(1);
                    per_task[i].emplace_back(i, k);
                    ++total;
                });
            }
        },
        kNoIdle, 10ms);
    EXPECT_EQ(off_main.load(), 0);
    EXPECT_EQ(total, 64 * kCallsPerTask);
    for (std::size_t i = 0; i < per_task.size(); ++i) {
        ASSERT_EQ(per_task[i].size(), static_cast<std::size_t>(kCallsPerTask));
        for (int k = 0; k < kCallsPerTask; ++k)
            EXPECT_EQ(per_task[i][k].second, k) << "each poster's calls run in its order";
    }
}

TEST(PoolTest, CallOnMainOutsideARunReturnsFalse) {
    WorkerPool pool(with_workers(2));
    bool ran = false;
    EXPECT_FALSE(pool.call_on_main([&] { ran = true; }));
    pool.run(
        3, [](Worker&, std::size_t) {}, kNoIdle, 10ms);
    EXPECT_FALSE(pool.call_on_main([&] { ran = true; })) << "nor after a run";
    EXPECT_FALSE(ran);
}

TEST(PoolTest, CallOnMainFromTheRunThreadCallsDirectly) {
    WorkerPool pool(with_workers(2));
    int direct = 0;
    bool returned = false;
    std::atomic<bool> release{false};
    pool.run(
        2,
        [&](Worker&, std::size_t) {
            while (!release.load())
                std::this_thread::yield();
        },
        [&] {
            returned = pool.call_on_main([&] { ++direct; });
            release.store(true);
            return true;
        },
        1ms);
    EXPECT_TRUE(returned);
    EXPECT_GE(direct, 1);
}

TEST(PoolTest, CallOnMainRethrowsInTheWorker) {
    WorkerPool pool(with_workers(2));
    std::atomic<int> caught{0};
    pool.run(
        4,
        [&](Worker&, std::size_t) {
            try {
                pool.call_on_main([] { throw std::runtime_error("main says no"); });
            } catch (const std::runtime_error& e) {
                if (std::strcmp(e.what(), "main says no") == 0)
                    caught.fetch_add(1);
            }
        },
        kNoIdle, 10ms);
    EXPECT_EQ(caught.load(), 4);
}

// Every index in [0, started) ran once, none at or after it.
void expect_prefix(const std::unique_ptr<std::atomic<int>[]>& counts, std::size_t tasks,
                   std::size_t started) {
    for (std::size_t i = 0; i < tasks; ++i)
        ASSERT_EQ(counts[i].load(), i < started ? 1 : 0) << "index " << i;
}

TEST(PoolTest, IdleIsCalledRegularly) {
    WorkerPool pool(with_workers(2));
    int calls = 0;
    pool.run(
        4, [](Worker&, std::size_t) { std::this_thread::sleep_for(30ms); },
        [&] {
            ++calls;
            return true;
        },
        2ms);
    EXPECT_GE(calls, 5);
}

TEST(PoolTest, IdleReturningFalseCancels) {
    constexpr std::size_t kTasks = 100000;
    WorkerPool pool(with_workers(4));
    std::unique_ptr<std::atomic<int>[]> counts(new std::atomic<int>[kTasks]);
    for (std::size_t i = 0; i < kTasks; ++i)
        counts[i].store(0);
    std::atomic<std::size_t> done{0};
    RunResult r = pool.run(
        kTasks,
        [&](Worker&, std::size_t i) {
            counts[i].fetch_add(1);
            std::this_thread::sleep_for(100us);
            done.fetch_add(1);
        },
        [&] { return done.load() < 50; }, 1ms);
    EXPECT_TRUE(r.cancelled);
    EXPECT_TRUE(pool.cancelled());
    EXPECT_LT(r.started, kTasks);
    EXPECT_GE(r.started, 50u);
    EXPECT_EQ(r.finished, r.started) << "started tasks finish";
    EXPECT_EQ(done.load(), r.started);
    expect_prefix(counts, kTasks, r.started);

    // The next run starts uncancelled.
    std::vector<int> again = run_counts(pool, 100, 0);
    for (int c : again)
        EXPECT_EQ(c, 1);
    EXPECT_FALSE(pool.cancelled());
}

TEST(PoolTest, CancelFromATaskStopsHandingOutIndices) {
    constexpr std::size_t kTasks = 100000;
    constexpr unsigned kWorkers = 4;
    WorkerPool pool(with_workers(kWorkers));
    std::unique_ptr<std::atomic<int>[]> counts(new std::atomic<int>[kTasks]);
    for (std::size_t i = 0; i < kTasks; ++i)
        counts[i].store(0);
    std::atomic<std::size_t> starts{0};
    std::atomic<std::size_t> starts_at_cancel{0};
    RunResult r = pool.run(
        kTasks,
        [&](Worker&, std::size_t i) {
            starts.fetch_add(1);
            counts[i].fetch_add(1);
            if (i == 500) {
                pool.cancel();
                EXPECT_TRUE(pool.cancelled());
                starts_at_cancel.store(starts.load());
            }
        },
        kNoIdle, 10ms);
    EXPECT_TRUE(r.cancelled);
    EXPECT_EQ(r.finished, r.started);
    EXPECT_EQ(starts.load(), r.started);
    EXPECT_GT(r.started, 500u);
    // Indices handed out before cancel() returned, not yet counted: one per other worker.
    EXPECT_LE(r.started, starts_at_cancel.load() + (kWorkers - 1));
    expect_prefix(counts, kTasks, r.started);
}

TEST(PoolTest, CancelWithOneWorkerIsExact) {
    WorkerPool pool(with_workers(2));
    RunResult r = pool.run(
        1000,
        [&](Worker&, std::size_t i) {
            if (i == 9)
                pool.cancel();
        },
        kNoIdle, 10ms, 1);
    EXPECT_TRUE(r.cancelled);
    EXPECT_EQ(r.started, 10u);
    EXPECT_EQ(r.finished, 10u);
}

TEST(PoolTest, ATaskExceptionIsRethrownAndThePoolStaysUsable) {
    WorkerPool pool(with_workers(4));
    try {
        pool.run(
            100000,
            [&](Worker&, std::size_t i) {
                if (i == 7)
                    throw std::runtime_error("task 7 failed");
            },
            kNoIdle, 10ms);
        ADD_FAILURE() << "run() returned normally";
    } catch (const std::runtime_error& e) {
        EXPECT_STREQ(e.what(), "task 7 failed");
    }
    EXPECT_TRUE(pool.cancelled());

    RunResult r;
    std::vector<int> counts = run_counts(pool, 1000, 0, &r);
    for (int c : counts)
        EXPECT_EQ(c, 1);
    EXPECT_FALSE(r.cancelled);
}

TEST(PoolTest, TheFirstOfSeveralExceptionsIsRethrown) {
    WorkerPool pool(with_workers(4));
    EXPECT_THROW(pool.run(
                     64, [](Worker&, std::size_t i) { throw static_cast<int>(i); }, kNoIdle, 10ms),
                 int);
    // Non-std exceptions too, and the next run is clean.
    EXPECT_EQ(run_counts(pool, 10, 0), std::vector<int>(10, 1));
}

TEST(PoolTest, AnExceptionFromIdleIsRethrownAfterTasksStop) {
    WorkerPool pool(with_workers(2));
    std::atomic<int> running{0};
    EXPECT_THROW(pool.run(
                     100000,
                     [&](Worker&, std::size_t) {
                         running.fetch_add(1);
                         std::this_thread::sleep_for(50us);
                         running.fetch_sub(1);
                     },
                     [&]() -> bool { throw std::runtime_error("interrupted"); }, 1ms),
                 std::runtime_error);
    EXPECT_EQ(running.load(), 0) << "all tasks had stopped when run() threw";
}

TEST(PoolTest, RunInsideATaskIsALogicError) {
    WorkerPool pool(with_workers(2));
    std::atomic<int> logic_errors{0};
    pool.run(
        2,
        [&](Worker&, std::size_t) {
            try {
                pool.run(
                    1, [](Worker&, std::size_t) {}, kNoIdle, 10ms);
            } catch (const std::logic_error&) {
                logic_errors.fetch_add(1);
            }
        },
        kNoIdle, 10ms);
    EXPECT_EQ(logic_errors.load(), 2);
}

TEST(PoolTest, RunInsideIdleIsALogicError) {
    WorkerPool pool(with_workers(2));
    bool logic_error = false;
    std::atomic<bool> release{false};
    pool.run(
        2,
        [&](Worker&, std::size_t) {
            while (!release.load())
                std::this_thread::yield();
        },
        [&] {
            try {
                pool.run(
                    1, [](Worker&, std::size_t) {}, kNoIdle, 10ms);
            } catch (const std::logic_error&) {
                logic_error = true;
            }
            release.store(true);
            return true;
        },
        1ms);
    EXPECT_TRUE(logic_error);
}

TEST(PoolTest, ConcurrentRunIsALogicError) {
    WorkerPool pool(with_workers(2));
    std::atomic<bool> in_task{false};
    std::atomic<bool> release{false};
    std::thread first([&] {
        pool.run(
            1,
            [&](Worker&, std::size_t) {
                in_task.store(true);
                while (!release.load())
                    std::this_thread::yield();
            },
            kNoIdle, 10ms);
    });
    while (!in_task.load())
        std::this_thread::yield();
    EXPECT_THROW(pool.run(
                     1, [](Worker&, std::size_t) {}, kNoIdle, 10ms),
                 std::logic_error);
    release.store(true);
    first.join();
    EXPECT_EQ(run_counts(pool, 10, 0), std::vector<int>(10, 1));
}

TEST(PoolTest, WorkersBlockSignals) {
    sigset_t main_before;
    pthread_sigmask(SIG_BLOCK, nullptr, &main_before);
    WorkerPool pool(with_workers(3));
    sigset_t main_after;
    pthread_sigmask(SIG_BLOCK, nullptr, &main_after);
    for (int sig : {SIGINT, SIGTERM, SIGUSR1, SIGCHLD})
        EXPECT_EQ(sigismember(&main_before, sig), sigismember(&main_after, sig))
            << "the main thread's mask is unchanged, signal " << sig;

    std::atomic<int> unblocked{0};
    pool.run(
        30,
        [&](Worker&, std::size_t) {
            sigset_t mask;
            pthread_sigmask(SIG_BLOCK, nullptr, &mask);
            for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM, SIGCHLD,
                            SIGPIPE, SIGWINCH, SIGRTMIN})
                if (sigismember(&mask, sig) != 1)
                    unblocked.fetch_add(1);
        },
        kNoIdle, 10ms);
    EXPECT_EQ(unblocked.load(), 0);
}

TEST(PoolTest, TasksUseTheirHeapInsideSnapshots) {
    constexpr unsigned kWorkers = 4;
    WorkerPool pool(with_workers(kWorkers));
    std::atomic<int> bad{0};
    RunResult r = pool.run(
        400,
        [&](Worker& w, std::size_t i) {
            px::Heap& heap = w.heap();
            std::size_t in_use_before = heap.stats().bytes_in_use;
            px::Snapshot s = heap.snapshot();
            {
                px::ContextScope scope(w.context());
                std::vector<unsigned char*> blocks;
                for (std::size_t k = 0; k < 50; ++k) {
                    std::size_t n = 16 + (i * 7 + k * 13) % 3000;
                    auto* p = static_cast<unsigned char*>(heap.alloc(n));
                    if (p == nullptr || px::owner(p) != px::Owner::current_context) {
                        bad.fetch_add(1);
                        continue;
                    }
                    std::memset(p, static_cast<int>((i + k) & 0xff), n);
                    blocks.push_back(p);
                }
                for (std::size_t k = 0; k < blocks.size(); ++k)
                    if (blocks[k][0] != static_cast<unsigned char>((i + k) & 0xff))
                        bad.fetch_add(1);
            }
            if (heap.rewind(s) != px::RewindStatus::ok)
                bad.fetch_add(1);
            if (heap.depth() != 0 || heap.stats().bytes_in_use != in_use_before)
                bad.fetch_add(1);
        },
        kNoIdle, 10ms);
    EXPECT_EQ(bad.load(), 0);
    EXPECT_EQ(r.finished, 400u);
}

} // namespace
} // namespace px::runtime
