// heap_stress_test.cpp — heaps on several threads at once, for ThreadSanitizer (and ASan).
//
// Four workers (more than this machine's cores, on purpose, so the scheduler interleaves
// them) start together behind a latch and run random operations for a fixed wall-clock time:
// alloc / alloc_aligned / realloc / free / snapshot / rewind on heaps of their own, owner_of()
// and owner() on their own and on other workers' pointers, and a churn heap each that they
// destroy and recreate all the time, so the shared region, its free runs and its chunk table
// change hands under the readers' feet. Every worker keeps a model of its heaps and checks it:
// bytes written are intact, owner_of() names the right heap, the stats add up.
//
// The run time is 2 s unless PX_STRESS_SECONDS says otherwise.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <latch>
#include <memory>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "px/guards.h"
#include "px/heap.h"

namespace px {
namespace {

constexpr int kWorkers = 4;
constexpr int kPinsPerHeap = 4;
constexpr int kRoamingSlots = 32;
constexpr std::uint32_t kMaxDepth = 8;

std::chrono::milliseconds run_time() {
    if (const char* env = std::getenv("PX_STRESS_SECONDS")) {
        long s = std::strtol(env, nullptr, 10);
        if (s > 0)
            return std::chrono::milliseconds(s * 1000);
    }
    return std::chrono::milliseconds(2000);
}

constexpr std::size_t gross(std::size_t n) {
    return n <= kMediumMax ? 16 + class_size(size_class(n)) : 32 + (n + 15) / 16 * 16;
}

unsigned char pattern(std::uint32_t seed, std::size_t i) {
    return static_cast<unsigned char>(seed ^ (i * 131u) ^ (i >> 7));
}
void fill(void* p, std::size_t n, std::uint32_t seed) {
    auto* b = static_cast<unsigned char*>(p);
    for (std::size_t i = 0; i < n; ++i)
        b[i] = pattern(seed, i);
}
bool intact(const void* p, std::size_t n, std::uint32_t seed) {
    const auto* b = static_cast<const unsigned char*>(p);
    for (std::size_t i = 0; i < n; ++i)
        if (b[i] != pattern(seed, i))
            return false;
    return true;
}

// A block another worker may look at: written once before the start gate, never freed until
// every worker has passed the finish gate.
struct Pin {
    const void* p = nullptr;
    std::size_t n = 0;
    std::uint32_t seed = 0;
    Heap* heap = nullptr;
};

struct Shared {
    std::latch start{kWorkers};
    std::latch finish{kWorkers};
    std::atomic<bool> stop{false};
    Pin pins[kWorkers][2][kPinsPerHeap];
    std::atomic<const void*> roaming[kRoamingSlots] = {};
    std::atomic<std::uint64_t> operations{0};
    std::atomic<std::uint64_t> heaps_recreated{0};
    std::atomic<int> failures{0};
    std::mutex first_failure_mu;
    std::string first_failure;

    void fail(int worker, std::uint64_t op, const std::string& what) {
        if (failures.fetch_add(1) == 0) {
            std::lock_guard lock(first_failure_mu);
            std::ostringstream out;
            out << "worker " << worker << ", operation " << op << ": " << what;
            first_failure = out.str();
        }
        stop.store(true);
    }
};

// One heap and the worker's model of it.
struct Tracked {
    struct Live {
        void* p;
        std::size_t n;
        std::uint32_t seed;
        std::uint32_t depth; // frames open when it was allocated
    };
    std::unique_ptr<Heap> heap;
    std::vector<Live> live;
    std::vector<Snapshot> snaps;
    std::size_t pinned_bytes = 0; // base-frame blocks outside the model (pins)
    std::uint64_t allocations = 0, frees = 0, snapshots = 0, rewinds = 0;

    explicit Tracked(const HeapOptions& o) : heap(std::make_unique<Heap>(o)) {}

    std::size_t expected_in_use() const {
        std::size_t sum = pinned_bytes;
        for (const Live& l : live)
            sum += gross(l.n);
        return sum;
    }
};

class Worker {
public:
    Worker(Shared& shared, int id) : shared_(shared), id_(id), rng_(0x5eed0000u + id) {}

    void run() {
        HeapOptions second;
        second.poison_rewound = id_ % 3 == 1;
        second.malloc_per_allocation = id_ % 3 == 2;
        heaps_.emplace_back(HeapOptions{});
        heaps_.emplace_back(second);
        pin_blocks();
        churn_ = std::make_unique<Tracked>(churn_options());
        Context ctx{heaps_[0].heap.get(), static_cast<std::uint32_t>(id_ + 1), nullptr};
        ContextScope scope(ctx);

        shared_.start.arrive_and_wait();
        const auto deadline = std::chrono::steady_clock::now() + run_time();
        std::uint64_t op = 0;
        while (!shared_.stop.load(std::memory_order_relaxed)) {
            if ((op & 255) == 0 && std::chrono::steady_clock::now() >= deadline)
                break;
            step(op);
            ++op;
        }
        shared_.operations.fetch_add(op);
        // Nobody may look at our pins after we free them: wait for every reader to stop.
        shared_.finish.arrive_and_wait();
    }

private:
    void check(bool ok, const std::string& what) {
        if (!ok)
            shared_.fail(id_, op_, what);
    }

    HeapOptions churn_options() {
        HeapOptions o;
        switch (recreated_++ % 3) {
        case 1:
            o.poison_rewound = true;
            break;
        case 2:
            o.malloc_per_allocation = true;
            break;
        default:
            o.cache_bytes = 0; // every rewind hands chunks straight back to the region
        }
        return o;
    }

    void pin_blocks() {
        for (int h = 0; h < 2; ++h) {
            for (int i = 0; i < kPinsPerHeap; ++i) {
                std::size_t n =
                    i == kPinsPerHeap - 1 ? 40000 : 24 + static_cast<std::size_t>(i) * 700;
                void* p = heaps_[h].heap->alloc(n);
                check(p != nullptr, "pin allocation failed");
                if (p == nullptr)
                    return;
                auto seed = static_cast<std::uint32_t>(id_ * 100 + h * 10 + i);
                fill(p, n, seed);
                heaps_[h].pinned_bytes += gross(n);
                heaps_[h].allocations++;
                shared_.pins[id_][h][i] = Pin{p, n, seed, heaps_[h].heap.get()};
            }
        }
    }

    // Never 0: zero-byte blocks have unit tests of their own (owner_test.cpp).
    std::size_t random_size() {
        std::uint32_t r = rng_() % 100;
        if (r < 70)
            return 1 + rng_() % 256;
        if (r < 90)
            return 257 + rng_() % 8000;
        if (r < 98)
            return 8257 + rng_() % 24000;
        return 32769 + rng_() % 150000;
    }

    void step(std::uint64_t op) {
        op_ = op;
        const std::uint32_t which = rng_() % 8; // 0, 1: the churn heap; else a long-lived one
        // Re-resolved after the operation: recreate_churn_heap() replaces the churn heap.
        auto target = [&]() -> Tracked& { return which < 2 ? *churn_ : heaps_[which % 2]; };
        Tracked& t = target();
        std::uint32_t r = rng_() % 100;
        if (r < 30)
            do_alloc(t);
        else if (r < 52)
            do_free(t);
        else if (r < 58)
            do_realloc(t);
        else if (r < 63)
            do_snapshot(t);
        else if (r < 67)
            do_rewind(t);
        else if (r < 77)
            verify_own(t);
        else if (r < 87)
            verify_pins_of_others();
        else if (r < 93)
            look_at_roaming();
        else if (r < 94)
            recreate_churn_heap();
        else if (r < 95)
            dealloc_list_round();
        if (op % 64 == 0)
            verify_stats(target());
    }

    void do_alloc(Tracked& t) {
        if (t.live.size() >= 1500) { // blocks of the base frame are never rewound: cap them
            do_free(t);
            return;
        }
        std::size_t n = random_size();
        bool aligned = rng_() % 10 == 0;
        void* p =
            aligned ? t.heap->alloc_aligned(n, std::size_t{32} << (rng_() % 8)) : t.heap->alloc(n);
        check(p != nullptr, "allocation failed without a limit");
        if (p == nullptr)
            return;
        auto seed = static_cast<std::uint32_t>(rng_());
        fill(p, n, seed);
        t.live.push_back({p, n, seed, static_cast<std::uint32_t>(t.snaps.size())});
        t.allocations++;
        shared_.roaming[rng_() % kRoamingSlots].store(p, std::memory_order_relaxed);
    }

    void do_free(Tracked& t) {
        if (t.live.empty())
            return;
        std::size_t i = rng_() % t.live.size();
        Tracked::Live l = t.live[i];
        check(intact(l.p, l.n, l.seed), "block damaged before its free");
        t.heap->free(l.p);
        t.live[i] = t.live.back();
        t.live.pop_back();
        t.frees++;
    }

    void do_realloc(Tracked& t) {
        if (t.live.empty())
            return;
        std::size_t i = rng_() % t.live.size();
        Tracked::Live& l = t.live[i];
        std::size_t m = rng_() % 2 ? l.n + rng_() % 3000 : (l.n + 1) / 2;
        void* q = t.heap->realloc(l.p, m);
        check(q != nullptr, "realloc failed without a limit");
        if (q == nullptr)
            return;
        check(intact(q, l.n < m ? l.n : m, l.seed), "realloc lost the contents");
        if (q != l.p) { // moved: a new block and a free of the old one
            t.allocations++;
            t.frees++;
        }
        l.p = q;
        l.n = m;
        l.seed = static_cast<std::uint32_t>(rng_());
        l.depth = static_cast<std::uint32_t>(t.snaps.size());
        fill(q, m, l.seed);
    }

    void do_snapshot(Tracked& t) {
        if (t.snaps.size() >= kMaxDepth)
            return;
        t.snaps.push_back(t.heap->snapshot());
        t.snapshots++;
        check(t.heap->depth() == t.snaps.size(), "depth after snapshot");
    }

    void do_rewind(Tracked& t) {
        if (t.snaps.empty())
            return;
        std::size_t k = rng_() % t.snaps.size();
        RewindStatus st = t.heap->rewind(t.snaps[k]);
        check(st == RewindStatus::ok, "rewind of an open snapshot refused");
        t.rewinds++;
        t.snaps.resize(k);
        std::erase_if(t.live, [&](const Tracked::Live& l) { return l.depth > k; });
        check(t.heap->depth() == k, "depth after rewind");
        if (rng_() % 2 == 0) // and one that must be refused: it was just discarded
            check(t.heap->rewind(Snapshot{t.heap->id(), ~std::uint64_t{0}, 1}) ==
                      RewindStatus::stale,
                  "rewind of a forged snapshot not refused");
    }

    void verify_own(Tracked& t) {
        if (t.live.empty())
            return;
        const Tracked::Live& l = t.live[rng_() % t.live.size()];
        check(intact(l.p, l.n, l.seed), "live block damaged");
        check(owner_of(l.p) == t.heap.get(),
              "owner_of(own block of " + std::to_string(l.n) + " bytes) is not its heap");
        check(is_context_memory(l.p), "own block is not context memory");
        Owner expected =
            t.heap.get() == heaps_[0].heap.get() ? Owner::current_context : Owner::other_context;
        check(owner(l.p) == expected, "owner(own block) is wrong");
        int on_stack = 0;
        check(owner(&on_stack) == Owner::main, "stack memory is not main");
    }

    void verify_pins_of_others() {
        int w = static_cast<int>(rng_() % kWorkers);
        int h = static_cast<int>(rng_() % 2);
        const Pin& pin = shared_.pins[w][h][rng_() % kPinsPerHeap];
        if (pin.p == nullptr)
            return; // that worker failed to pin (already reported)
        check(owner_of(pin.p) == pin.heap, "owner_of(pinned block) changed");
        check(owner_of(static_cast<const char*>(pin.p) + pin.n - 1) == pin.heap,
              "owner_of(last byte of pinned block) changed");
        if (w != id_)
            check(owner(pin.p) == Owner::other_context, "another worker's block is not other");
        check(intact(pin.p, pin.n, pin.seed), "pinned block damaged");
    }

    void look_at_roaming() {
        // These may have been freed, rewound or handed to another heap since: only the call
        // itself is checked (for data races and crashes), not its answer.
        const void* p = shared_.roaming[rng_() % kRoamingSlots].load(std::memory_order_relaxed);
        Heap* h = owner_of(p);
        bool ctx = is_context_memory(p);
        roaming_seen_ += (h != nullptr) + ctx;
    }

    void recreate_churn_heap() {
        std::size_t in_use = churn_->heap->stats().bytes_in_use;
        check(in_use == churn_->expected_in_use(), "churn heap bytes before destruction");
        std::vector<const void*> old;
        for (const Tracked::Live& l : churn_->live)
            old.push_back(l.p);
        churn_ = std::make_unique<Tracked>(churn_options());
        shared_.heaps_recreated.fetch_add(1, std::memory_order_relaxed);
        // The destroyed heap's memory now belongs to nobody, or (the region recycles it at
        // once) to whichever heap on another thread took it since; never to one of ours,
        // which have not allocated anything in between.
        for (const void* p : old) {
            Heap* h = owner_of(p);
            check(h != churn_->heap.get() && h != heaps_[0].heap.get() && h != heaps_[1].heap.get(),
                  "a heap owns memory of a destroyed heap it never took");
        }
    }

    static inline thread_local int deallocs_run = 0;
    static void count_dealloc(void*) { ++deallocs_run; }

    void dealloc_list_round() {
        Tracked& t = *churn_;
        DeallocList list(*t.heap);
        Snapshot s = t.heap->snapshot();
        int tracked = 0, untracked = 0;
        std::vector<void*> objects;
        for (int i = 0; i < 20; ++i) {
            void* o = t.heap->alloc(48);
            check(o != nullptr, "object allocation failed");
            if (o == nullptr)
                break;
            objects.push_back(o);
            check(list.track(o, &count_dealloc) == TrackStatus::ok, "track failed");
            ++tracked;
        }
        for (std::size_t i = 0; i < objects.size(); i += 3) {
            check(list.untrack(objects[i]), "untrack of a tracked object failed");
            ++untracked;
        }
        deallocs_run = 0;
        check(t.heap->rewind(s) == RewindStatus::ok, "dealloc-list rewind refused");
        check(deallocs_run == tracked - untracked, "dealloc callbacks did not all run once");
        check(list.size() == 0, "tracked objects left after the rewind");
        check(t.heap->stats().bytes_in_use == t.expected_in_use(), "bytes after dealloc round");
    }

    void verify_stats(Tracked& t) {
        HeapStats s = t.heap->stats();
        check(s.bytes_in_use == t.expected_in_use(), "bytes_in_use does not match the model");
        check(s.depth == t.snaps.size(), "depth does not match the model");
        check(s.bytes_held >= s.bytes_in_use, "bytes_held below bytes_in_use");
        check(s.high_water >= s.bytes_held, "high_water below bytes_held");
        if (&t != churn_.get()) { // the churn heap also runs dealloc-list rounds
            check(s.allocations == t.allocations, "allocations do not match the model");
            check(s.frees == t.frees, "frees do not match the model");
            check(s.snapshots == t.snapshots, "snapshots do not match the model");
            check(s.rewinds == t.rewinds, "rewinds do not match the model");
        }
        if (!t.heap->options().malloc_per_allocation)
            check(s.chunk_bytes >= s.bytes_held, "chunk bytes below bytes held");
        check(s.failed == 0, "a refused allocation without a limit");
    }

    Shared& shared_;
    int id_;
    std::mt19937 rng_;
    std::uint64_t op_ = 0;
    std::vector<Tracked> heaps_;
    std::unique_ptr<Tracked> churn_;
    int recreated_ = 0;
    std::uint64_t roaming_seen_ = 0;
};

TEST(HeapStressTest, WorkersWithTheirOwnHeapsRunConcurrentlyWithoutInterference) {
    auto shared = std::make_unique<Shared>();
    std::vector<std::thread> threads;
    for (int w = 0; w < kWorkers; ++w)
        threads.emplace_back([&shared, w] { Worker(*shared, w).run(); });
    for (auto& t : threads)
        t.join();
    EXPECT_EQ(shared->failures.load(), 0) << shared->first_failure;
    EXPECT_GT(shared->operations.load(), 1000u);
    EXPECT_GT(shared->heaps_recreated.load(), 0u);
    RecordProperty("operations", std::to_string(shared->operations.load()));
    RecordProperty("heaps_recreated", std::to_string(shared->heaps_recreated.load()));
    std::printf("stress: %llu operations, %llu heaps recreated\n",
                static_cast<unsigned long long>(shared->operations.load()),
                static_cast<unsigned long long>(shared->heaps_recreated.load()));
}

TEST(HeapStressTest, HeapsCreatedAndDestroyedConcurrentlyOwnOnlyTheirMemory) {
    // Pure churn: every thread creates a heap, fills it with chunks and large blocks, checks
    // that owner_of() names it for all of them, destroys it, and starts over. The region's
    // free runs are split and merged by four threads at once.
    std::latch start(kWorkers);
    std::atomic<int> failures{0};
    std::atomic<std::uint64_t> rounds{0};
    const auto deadline = std::chrono::steady_clock::now() + run_time() / 2;
    std::vector<std::thread> threads;
    for (int w = 0; w < kWorkers; ++w)
        threads.emplace_back([&, w] {
            std::mt19937 rng(77u + static_cast<unsigned>(w));
            start.arrive_and_wait();
            std::uint64_t n = 0;
            while (std::chrono::steady_clock::now() < deadline) {
                HeapOptions o;
                o.cache_bytes = rng() % 2 ? 0 : 1 << 20;
                Heap heap(o);
                std::vector<void*> blocks;
                for (int i = 0; i < 30; ++i) {
                    std::size_t size = rng() % 4 == 0 ? 40000 + rng() % 300000 : rng() % 4000;
                    void* p = heap.alloc(size);
                    if (p == nullptr) {
                        failures.fetch_add(1);
                        break;
                    }
                    blocks.push_back(p);
                }
                Snapshot s = heap.snapshot();
                for (int i = 0; i < 10; ++i)
                    blocks.push_back(heap.alloc(70000));
                for (void* p : blocks)
                    if (p == nullptr || owner_of(p) != &heap)
                        failures.fetch_add(1);
                if (heap.rewind(s) != RewindStatus::ok)
                    failures.fetch_add(1);
                ++n;
            }
            rounds.fetch_add(n);
        });
    for (auto& t : threads)
        t.join();
    EXPECT_EQ(failures.load(), 0);
    EXPECT_GT(rounds.load(), 0u);
}

} // namespace
} // namespace px
