// heap_cleanup_test.cpp — add_cleanup / cancel_cleanup: when cleanups run, in which order,
// how often, and what they may do while the heap rewinds.
#include <gtest/gtest.h>

#include <vector>

#include "heap_test_support.h"
#include "px/heap.h"

namespace px::test {
namespace {

// A cleanup that appends its tag to a log. The log outlives every heap in a test.
struct Tagged {
    std::vector<int>* log;
    int tag;
};

void log_tag(void* arg) {
    auto* t = static_cast<Tagged*>(arg);
    t->log->push_back(t->tag);
}

class CleanupTest : public testing::TestWithParam<Mode> {
protected:
    std::vector<int> log;
    std::vector<Tagged> tags = std::vector<Tagged>(64);

    Cleanup* add(Heap& h, int tag) {
        tags.at(static_cast<std::size_t>(tag)) = Tagged{&log, tag};
        return h.add_cleanup(&log_tag, &tags[static_cast<std::size_t>(tag)]);
    }
};
INSTANTIATE_TEST_SUITE_P(Modes, CleanupTest, PX_ALL_HEAP_MODES);

TEST_P(CleanupTest, CleanupRunsAtTheRewindWithItsArgument) {
    Heap heap(options_for(GetParam()));
    Snapshot s = heap.snapshot();
    ASSERT_NE(add(heap, 7), nullptr);
    EXPECT_TRUE(log.empty());
    ASSERT_EQ(heap.rewind(s), RewindStatus::ok);
    EXPECT_EQ(log, std::vector<int>{7});
}

TEST_P(CleanupTest, CleanupsRunNewestFirst) {
    Heap heap(options_for(GetParam()));
    Snapshot s = heap.snapshot();
    for (int tag = 1; tag <= 5; ++tag)
        ASSERT_NE(add(heap, tag), nullptr);
    ASSERT_EQ(heap.rewind(s), RewindStatus::ok);
    EXPECT_EQ(log, (std::vector<int>{5, 4, 3, 2, 1}));
}

TEST_P(CleanupTest, CleanupRunsExactlyOnce) {
    {
        Heap heap(options_for(GetParam()));
        Snapshot s = heap.snapshot();
        ASSERT_NE(add(heap, 1), nullptr);
        ASSERT_EQ(heap.rewind(s), RewindStatus::ok);
        Snapshot t = heap.snapshot();
        ASSERT_EQ(heap.rewind(t), RewindStatus::ok);
    } // and not again at destruction
    EXPECT_EQ(log, std::vector<int>{1});
}

TEST_P(CleanupTest, OnlyCleanupsAddedAfterTheSnapshotRun) {
    {
        Heap heap(options_for(GetParam()));
        ASSERT_NE(add(heap, 1), nullptr);
        Snapshot s = heap.snapshot();
        ASSERT_NE(add(heap, 2), nullptr);
        ASSERT_EQ(heap.rewind(s), RewindStatus::ok);
        EXPECT_EQ(log, std::vector<int>{2});
    }
    EXPECT_EQ(log, (std::vector<int>{2, 1})); // the older one ran when the heap died
}

TEST_P(CleanupTest, CleanupRunsAtTheRewindOfTheSnapshotOpenWhenItWasAdded) {
    Heap heap(options_for(GetParam()));
    Snapshot s1 = heap.snapshot();
    ASSERT_NE(add(heap, 1), nullptr);
    Snapshot s2 = heap.snapshot();
    ASSERT_NE(add(heap, 2), nullptr);
    ASSERT_EQ(heap.rewind(s2), RewindStatus::ok);
    EXPECT_EQ(log, std::vector<int>{2});
    ASSERT_EQ(heap.rewind(s1), RewindStatus::ok);
    EXPECT_EQ(log, (std::vector<int>{2, 1}));
}

TEST_P(CleanupTest, RewindingAnOuterSnapshotRunsInnerCleanupsFirst) {
    Heap heap(options_for(GetParam()));
    Snapshot s1 = heap.snapshot();
    ASSERT_NE(add(heap, 1), nullptr);
    heap.snapshot();
    ASSERT_NE(add(heap, 2), nullptr);
    heap.snapshot();
    ASSERT_NE(add(heap, 3), nullptr);
    ASSERT_EQ(heap.rewind(s1), RewindStatus::ok);
    EXPECT_EQ(log, (std::vector<int>{3, 2, 1}));
}

TEST_P(CleanupTest, CancelledCleanupNeverRuns) {
    {
        Heap heap(options_for(GetParam()));
        Cleanup* base = add(heap, 1);
        Snapshot s = heap.snapshot();
        Cleanup* inner = add(heap, 2);
        ASSERT_TRUE(base && inner);
        heap.cancel_cleanup(inner);
        heap.cancel_cleanup(base);
        ASSERT_EQ(heap.rewind(s), RewindStatus::ok);
    }
    EXPECT_TRUE(log.empty());
}

TEST_P(CleanupTest, CancellingOneCleanupKeepsTheOthersInOrder) {
    Heap heap(options_for(GetParam()));
    Snapshot s = heap.snapshot();
    Cleanup* c1 = add(heap, 1);
    Cleanup* c2 = add(heap, 2);
    Cleanup* c3 = add(heap, 3);
    Cleanup* c4 = add(heap, 4);
    ASSERT_TRUE(c1 && c2 && c3 && c4);
    heap.cancel_cleanup(c2); // middle
    heap.cancel_cleanup(c4); // newest
    ASSERT_EQ(heap.rewind(s), RewindStatus::ok);
    EXPECT_EQ(log, (std::vector<int>{3, 1}));
}

TEST_P(CleanupTest, CleanupCancelledInsideASnapshotStaysCancelledAfterItsRewind) {
    {
        Heap heap(options_for(GetParam()));
        Cleanup* old = add(heap, 1);
        ASSERT_NE(old, nullptr);
        const std::size_t in_use = heap.stats().bytes_in_use;
        Snapshot s = heap.snapshot();
        heap.cancel_cleanup(old);
        ASSERT_EQ(heap.rewind(s), RewindStatus::ok);
        // Cancelled after the snapshot: the cleanup's record is released by the rewind.
        EXPECT_LT(heap.stats().bytes_in_use, in_use);
    }
    EXPECT_TRUE(log.empty());
}

TEST_P(CleanupTest, CleanupCostsHeapBytesUntilItRunsOrIsCancelled) {
    Heap heap(options_for(GetParam()));
    Cleanup* c = add(heap, 1);
    ASSERT_NE(c, nullptr);
    EXPECT_GT(heap.stats().bytes_in_use, 0u);
    heap.cancel_cleanup(c);
    EXPECT_EQ(heap.stats().bytes_in_use, 0u);
}

TEST_P(CleanupTest, DestructorRunsTheRemainingCleanupsNewestFirst) {
    {
        Heap heap(options_for(GetParam()));
        ASSERT_NE(add(heap, 1), nullptr);
        heap.snapshot();
        ASSERT_NE(add(heap, 2), nullptr);
        heap.snapshot(); // still open when the heap dies
        ASSERT_NE(add(heap, 3), nullptr);
        EXPECT_TRUE(log.empty());
    }
    EXPECT_EQ(log, (std::vector<int>{3, 2, 1}));
}

// ---- what a cleanup sees and may do ----

struct BlockCheck {
    const void* p;
    std::size_t n;
    std::uint32_t seed;
    bool was_intact = false;
};

void check_block(void* arg) {
    auto* b = static_cast<BlockCheck*>(arg);
    b->was_intact = intact(b->p, b->n, b->seed);
}

TEST_P(CleanupTest, CleanupRunsBeforeTheSnapshotsMemoryIsReleased) {
    Heap heap(options_for(GetParam()));
    Snapshot s = heap.snapshot();
    std::vector<BlockCheck> checks;
    checks.reserve(3);
    for (std::size_t n : {48, 3000, 90000}) {
        void* p = heap.alloc(n);
        ASSERT_NE(p, nullptr);
        fill(p, n, static_cast<std::uint32_t>(n));
        checks.push_back({p, n, static_cast<std::uint32_t>(n)});
    }
    // Added first, so it runs last: after the other cleanups, still before any release.
    for (BlockCheck& c : checks)
        ASSERT_NE(heap.add_cleanup(&check_block, &c), nullptr);
    ASSERT_EQ(heap.rewind(s), RewindStatus::ok);
    for (const BlockCheck& c : checks)
        EXPECT_TRUE(c.was_intact) << "block of " << c.n;
}

struct Churn {
    Heap* heap;
    void* older; // allocated before the snapshot, freed by the cleanup
    int allocated = 0;
};

void churn_during_rewind(void* arg) {
    auto* c = static_cast<Churn*>(arg);
    std::vector<void*> blocks;
    for (std::size_t n : {16, 200, 5000, 70000, 16, 900}) {
        void* p = c->heap->alloc(n);
        if (p != nullptr) {
            fill(p, n, 1);
            blocks.push_back(p);
            ++c->allocated;
        }
    }
    for (std::size_t i = 0; i < blocks.size(); i += 2)
        c->heap->free(blocks[i]);
    c->heap->free(c->older);
}

TEST_P(CleanupTest, CleanupMayAllocateAndFreeInTheHeapDuringTheRewind) {
    Heap heap(options_for(GetParam()));
    void* keep = heap.alloc(128);
    void* older = heap.alloc(256);
    ASSERT_TRUE(keep && older);
    fill(keep, 128, 2);
    Snapshot s = heap.snapshot();
    ASSERT_NE(heap.alloc(1000), nullptr);
    Churn churn{&heap, older};
    ASSERT_NE(heap.add_cleanup(&churn_during_rewind, &churn), nullptr);
    ASSERT_EQ(heap.rewind(s), RewindStatus::ok);
    EXPECT_EQ(churn.allocated, 6);
    // What the cleanup allocated went with the snapshot; the block it freed is gone too.
    EXPECT_EQ(heap.stats().bytes_in_use, gross(128));
    EXPECT_TRUE(intact(keep, 128, 2));
    void* p = heap.alloc(256);
    ASSERT_NE(p, nullptr);
    fill(p, 256, 3);
    EXPECT_TRUE(intact(keep, 128, 2));
}

struct Chain {
    Heap* heap;
    std::vector<int>* log;
    int depth;
};

void add_another(void* arg) {
    auto* c = static_cast<Chain*>(arg);
    c->log->push_back(c->depth);
    if (c->depth < 3) {
        auto* next = static_cast<Chain*>(c->heap->alloc(sizeof(Chain)));
        ASSERT_NE(next, nullptr);
        *next = Chain{c->heap, c->log, c->depth + 1};
        ASSERT_NE(c->heap->add_cleanup(&add_another, next), nullptr);
    }
}

TEST_P(CleanupTest, CleanupAddedByACleanupDuringTheRewindRunsInTheSameRewind) {
    // Its memory is released by this very rewind, so it cannot be left for a later one.
    {
        Heap heap(options_for(GetParam()));
        Snapshot s = heap.snapshot();
        Chain first{&heap, &log, 1};
        ASSERT_NE(heap.add_cleanup(&add_another, &first), nullptr);
        ASSERT_EQ(heap.rewind(s), RewindStatus::ok);
        EXPECT_EQ(log, (std::vector<int>{1, 2, 3}));
        EXPECT_EQ(heap.stats().bytes_in_use, 0u);
    }
    EXPECT_EQ(log, (std::vector<int>{1, 2, 3}));
}

// ---- rewinding from a cleanup ----

struct Reentry {
    Heap* heap;
    Snapshot target;
    RewindStatus got = RewindStatus::ok;
    bool ran = false;
};

void rewind_from_cleanup(void* arg) {
    auto* r = static_cast<Reentry*>(arg);
    r->got = r->heap->rewind(r->target);
    r->ran = true;
}

TEST_P(CleanupTest, RewindFromACleanupOfThisHeapIsInsideCleanup) {
    Heap heap(options_for(GetParam()));
    Snapshot outer = heap.snapshot();
    Snapshot inner = heap.snapshot();
    Reentry same{&heap, inner};
    Reentry older{&heap, outer};
    ASSERT_NE(heap.add_cleanup(&rewind_from_cleanup, &same), nullptr);
    ASSERT_NE(heap.add_cleanup(&rewind_from_cleanup, &older), nullptr);
    ASSERT_EQ(heap.rewind(inner), RewindStatus::ok);
    ASSERT_TRUE(same.ran && older.ran);
    EXPECT_EQ(same.got, RewindStatus::inside_cleanup);
    EXPECT_EQ(older.got, RewindStatus::inside_cleanup);
    EXPECT_EQ(heap.depth(), 1u);
    EXPECT_EQ(heap.stats().rewinds, 1u);
    EXPECT_EQ(heap.rewind(outer), RewindStatus::ok); // the refused target is still valid
}

TEST_P(CleanupTest, RewindFromACleanupRunByTheDestructorIsInsideCleanup) {
    Reentry r{nullptr, Snapshot{}};
    {
        Heap heap(options_for(GetParam()));
        r.heap = &heap;
        r.target = heap.snapshot();
        ASSERT_NE(heap.add_cleanup(&rewind_from_cleanup, &r), nullptr);
    }
    ASSERT_TRUE(r.ran);
    EXPECT_EQ(r.got, RewindStatus::inside_cleanup);
}

TEST_P(CleanupTest, RewindOfAnotherHeapFromACleanupIsAllowed) {
    Heap heap(options_for(GetParam()));
    Heap other(options_for(GetParam()));
    Snapshot theirs = other.snapshot();
    ASSERT_NE(other.alloc(500), nullptr);
    Snapshot s = heap.snapshot();
    Reentry r{&other, theirs};
    ASSERT_NE(heap.add_cleanup(&rewind_from_cleanup, &r), nullptr);
    ASSERT_EQ(heap.rewind(s), RewindStatus::ok);
    ASSERT_TRUE(r.ran);
    EXPECT_EQ(r.got, RewindStatus::ok);
    EXPECT_EQ(other.stats().bytes_in_use, 0u);
}

TEST_P(CleanupTest, MisuseStatusesOtherThanReentryKeepTheirMeaningInsideACleanup) {
    Heap heap(options_for(GetParam()));
    Heap other(options_for(GetParam()));
    Snapshot s = heap.snapshot();
    Reentry never{&heap, Snapshot{}};
    Reentry foreign{&heap, other.snapshot()};
    ASSERT_NE(heap.add_cleanup(&rewind_from_cleanup, &never), nullptr);
    ASSERT_NE(heap.add_cleanup(&rewind_from_cleanup, &foreign), nullptr);
    ASSERT_EQ(heap.rewind(s), RewindStatus::ok);
    EXPECT_EQ(never.got, RewindStatus::never_taken);
    EXPECT_EQ(foreign.got, RewindStatus::foreign);
}

} // namespace
} // namespace px::test
