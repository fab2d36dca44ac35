// heap_snapshot_test.cpp — snapshots, rewind, the refused rewinds and what a rewind does to
// blocks freed across a snapshot.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "heap_test_support.h"
#include "px/heap.h"

namespace px::test {
namespace {

class SnapshotTest : public testing::TestWithParam<Mode> {
protected:
    Heap heap{options_for(GetParam())};
};
INSTANTIATE_TEST_SUITE_P(Modes, SnapshotTest, PX_ALL_HEAP_MODES);

TEST_P(SnapshotTest, SnapshotNamesItsHeapAndDepth) {
    Snapshot s1 = heap.snapshot();
    Snapshot s2 = heap.snapshot();
    EXPECT_EQ(s1.heap_id, heap.id());
    EXPECT_EQ(s2.heap_id, heap.id());
    EXPECT_EQ(s1.depth, 1u);
    EXPECT_EQ(s2.depth, 2u);
    EXPECT_NE(s1.serial, s2.serial);
    EXPECT_EQ(heap.depth(), 2u);
    EXPECT_EQ(heap.stats().depth, 2u);
    EXPECT_EQ(heap.stats().snapshots, 2u);
}

TEST_P(SnapshotTest, RewindReleasesEverythingAllocatedSinceTheSnapshot) {
    void* before = heap.alloc(300);
    ASSERT_NE(before, nullptr);
    HeapStats at_snapshot = heap.stats();
    Snapshot s = heap.snapshot();
    for (int i = 0; i < 500; ++i)
        ASSERT_NE(heap.alloc(static_cast<std::size_t>(i) * 97 % 50000), nullptr);
    ASSERT_EQ(heap.rewind(s), RewindStatus::ok);
    HeapStats after = heap.stats();
    EXPECT_EQ(after.bytes_in_use, at_snapshot.bytes_in_use);
    EXPECT_EQ(after.depth, 0u);
    EXPECT_EQ(after.rewinds, 1u);
    EXPECT_EQ(after.allocations, at_snapshot.allocations + 500); // counters never go back
    heap.free(before);
}

TEST_P(SnapshotTest, BlocksAllocatedBeforeTheSnapshotSurviveTheRewindIntact) {
    std::vector<std::pair<void*, std::size_t>> old;
    for (std::size_t n : {8, 100, 1000, 5000, 40000}) {
        void* p = heap.alloc(n);
        ASSERT_NE(p, nullptr);
        fill(p, n, static_cast<std::uint32_t>(n));
        old.emplace_back(p, n);
    }
    Snapshot s = heap.snapshot();
    for (int i = 0; i < 300; ++i) {
        std::size_t n = static_cast<std::size_t>(i) * 131 % 3000;
        void* p = heap.alloc(n);
        ASSERT_NE(p, nullptr);
        fill(p, n, 99);
    }
    ASSERT_EQ(heap.rewind(s), RewindStatus::ok);
    for (auto& [p, n] : old)
        EXPECT_TRUE(intact(p, n, static_cast<std::uint32_t>(n))) << "block of " << n;
}

TEST_P(SnapshotTest, NestedSnapshotsRewindInStackOrder) {
    Snapshot s1 = heap.snapshot();
    ASSERT_NE(heap.alloc(100), nullptr);
    std::size_t after1 = heap.stats().bytes_in_use;
    Snapshot s2 = heap.snapshot();
    ASSERT_NE(heap.alloc(2000), nullptr);
    std::size_t after2 = heap.stats().bytes_in_use;
    Snapshot s3 = heap.snapshot();
    ASSERT_NE(heap.alloc(50000), nullptr);

    ASSERT_EQ(heap.rewind(s3), RewindStatus::ok);
    EXPECT_EQ(heap.stats().bytes_in_use, after2);
    EXPECT_EQ(heap.depth(), 2u);
    ASSERT_EQ(heap.rewind(s2), RewindStatus::ok);
    EXPECT_EQ(heap.stats().bytes_in_use, after1);
    EXPECT_EQ(heap.depth(), 1u);
    ASSERT_EQ(heap.rewind(s1), RewindStatus::ok);
    EXPECT_EQ(heap.stats().bytes_in_use, 0u);
    EXPECT_EQ(heap.depth(), 0u);
    EXPECT_EQ(heap.stats().rewinds, 3u);
}

TEST_P(SnapshotTest, RewindingAnOuterSnapshotDiscardsTheInnerOnes) {
    Snapshot s1 = heap.snapshot();
    ASSERT_NE(heap.alloc(10), nullptr);
    Snapshot s2 = heap.snapshot();
    ASSERT_NE(heap.alloc(20), nullptr);
    Snapshot s3 = heap.snapshot();
    ASSERT_NE(heap.alloc(40000), nullptr);
    ASSERT_EQ(heap.rewind(s1), RewindStatus::ok);
    EXPECT_EQ(heap.depth(), 0u);
    EXPECT_EQ(heap.stats().bytes_in_use, 0u);
    EXPECT_EQ(heap.rewind(s2), RewindStatus::stale);
    EXPECT_EQ(heap.rewind(s3), RewindStatus::stale);
    EXPECT_EQ(heap.stats().rewinds, 1u);
}

TEST_P(SnapshotTest, RewindingTheSameSnapshotTwiceIsStale) {
    Snapshot s = heap.snapshot();
    ASSERT_EQ(heap.rewind(s), RewindStatus::ok);
    EXPECT_EQ(heap.rewind(s), RewindStatus::stale);
}

TEST_P(SnapshotTest, SnapshotTakenAtAReusedDepthMakesTheOldOneStale) {
    Snapshot old = heap.snapshot();
    ASSERT_EQ(heap.rewind(old), RewindStatus::ok);
    Snapshot fresh = heap.snapshot();
    ASSERT_EQ(fresh.depth, old.depth);
    EXPECT_EQ(heap.rewind(old), RewindStatus::stale);
    EXPECT_EQ(heap.depth(), 1u);
    EXPECT_EQ(heap.rewind(fresh), RewindStatus::ok);
}

TEST_P(SnapshotTest, InnerSnapshotOfAnInnerRewoundFrameStaysUsable) {
    Snapshot s1 = heap.snapshot();
    Snapshot s2 = heap.snapshot();
    ASSERT_EQ(heap.rewind(s2), RewindStatus::ok);
    EXPECT_EQ(heap.rewind(s1), RewindStatus::ok);
}

TEST_P(SnapshotTest, DefaultSnapshotIsNeverTaken) {
    EXPECT_EQ(heap.rewind(Snapshot{}), RewindStatus::never_taken);
    heap.snapshot();
    EXPECT_EQ(heap.rewind(Snapshot{}), RewindStatus::never_taken);
    EXPECT_EQ(heap.depth(), 1u);
}

TEST_P(SnapshotTest, SnapshotOfAnotherHeapIsForeign) {
    Heap other(options_for(GetParam()));
    Snapshot theirs = other.snapshot();
    heap.snapshot();
    EXPECT_EQ(heap.rewind(theirs), RewindStatus::foreign);
    EXPECT_EQ(heap.depth(), 1u);
    EXPECT_EQ(other.depth(), 1u);
}

TEST_P(SnapshotTest, RefusedRewindLeavesTheHeapUnchanged) {
    Heap other(options_for(GetParam()));
    void* kept = heap.alloc(700);
    ASSERT_NE(kept, nullptr);
    fill(kept, 700, 5);
    Snapshot s1 = heap.snapshot();
    Snapshot s2 = heap.snapshot();
    void* inner = heap.alloc(40000);
    ASSERT_NE(inner, nullptr);
    fill(inner, 40000, 6);
    ASSERT_EQ(heap.rewind(s2), RewindStatus::ok);
    Snapshot s3 = heap.snapshot();
    void* live = heap.alloc(3000);
    ASSERT_NE(live, nullptr);
    fill(live, 3000, 7);

    const HeapStats before = heap.stats();
    EXPECT_EQ(heap.rewind(Snapshot{}), RewindStatus::never_taken);
    EXPECT_EQ(fields(heap.stats()), fields(before));
    EXPECT_EQ(heap.rewind(other.snapshot()), RewindStatus::foreign);
    EXPECT_EQ(fields(heap.stats()), fields(before));
    EXPECT_EQ(heap.rewind(s2), RewindStatus::stale);
    EXPECT_EQ(fields(heap.stats()), fields(before));
    Snapshot forged = s3;
    forged.serial += 1000; // right heap and depth, but no such snapshot
    EXPECT_EQ(heap.rewind(forged), RewindStatus::stale);
    Snapshot too_deep = s3;
    too_deep.depth = 40;
    EXPECT_EQ(heap.rewind(too_deep), RewindStatus::stale);
    Snapshot depth_zero = s1;
    depth_zero.depth = 0;
    EXPECT_EQ(heap.rewind(depth_zero), RewindStatus::stale);
    EXPECT_EQ(fields(heap.stats()), fields(before));

    EXPECT_TRUE(intact(kept, 700, 5));
    EXPECT_TRUE(intact(live, 3000, 7));
    EXPECT_EQ(heap.rewind(s1), RewindStatus::ok); // the real snapshots still work
}

TEST_P(SnapshotTest, NestingFarBeyondTheFirstFewFramesWorks) {
    std::vector<Snapshot> snaps;
    std::vector<std::size_t> in_use;
    for (int i = 0; i < 1000; ++i) {
        in_use.push_back(heap.stats().bytes_in_use);
        snaps.push_back(heap.snapshot());
        ASSERT_EQ(heap.depth(), static_cast<std::uint32_t>(i + 1));
        ASSERT_NE(heap.alloc(static_cast<std::size_t>(i % 50) * 16), nullptr);
    }
    ASSERT_EQ(heap.rewind(snaps[500]), RewindStatus::ok);
    EXPECT_EQ(heap.depth(), 500u);
    EXPECT_EQ(heap.stats().bytes_in_use, in_use[500]);
    EXPECT_EQ(heap.rewind(snaps[700]), RewindStatus::stale);
    ASSERT_EQ(heap.rewind(snaps[499]), RewindStatus::ok);
    ASSERT_EQ(heap.rewind(snaps[0]), RewindStatus::ok);
    EXPECT_EQ(heap.stats().bytes_in_use, 0u);
    EXPECT_EQ(heap.depth(), 0u);
}

TEST_P(SnapshotTest, AllocationKeepsWorkingAcrossManyRewinds) {
    void* anchor = heap.alloc(64);
    ASSERT_NE(anchor, nullptr);
    fill(anchor, 64, 1);
    struct Block {
        void* p;
        std::size_t n;
        std::uint32_t seed;
    };
    for (int round = 0; round < 200; ++round) {
        Snapshot s = heap.snapshot();
        std::vector<Block> blocks;
        for (int i = 0; i < 40; ++i) {
            // Mostly small and medium blocks, and one large block per round.
            std::size_t n =
                i == 39 ? 50000 : static_cast<std::size_t>((round * 40 + i) * 211 % 9000);
            void* p = (i % 5 == 0) ? heap.alloc_aligned(n, 256) : heap.alloc(n);
            ASSERT_NE(p, nullptr) << "round " << round << " i " << i;
            auto seed = static_cast<std::uint32_t>(round * 40 + i);
            fill(p, n, seed);
            blocks.push_back({p, n, seed});
            if (i % 7 == 3) {
                heap.free(blocks.front().p);
                blocks.erase(blocks.begin());
            }
        }
        for (const Block& b : blocks)
            ASSERT_TRUE(intact(b.p, b.n, b.seed)) << "round " << round;
        ASSERT_EQ(heap.rewind(s), RewindStatus::ok) << "round " << round;
        ASSERT_EQ(heap.stats().bytes_in_use, gross(64)) << "round " << round;
    }
    EXPECT_TRUE(intact(anchor, 64, 1));
    EXPECT_EQ(heap.stats().rewinds, 200u);
}

TEST_P(SnapshotTest, BytesInUseAfterRewindExcludesOlderBlocksFreedSinceTheSnapshot) {
    void* a = heap.alloc(64);
    void* b = heap.alloc(2000);
    void* c = heap.alloc(50000);
    ASSERT_TRUE(a && b && c);
    Snapshot s = heap.snapshot();
    heap.free(a);
    heap.free(c);
    EXPECT_EQ(heap.stats().bytes_in_use, gross(2000));
    ASSERT_EQ(heap.rewind(s), RewindStatus::ok);
    EXPECT_EQ(heap.stats().bytes_in_use, gross(2000));
    heap.free(b);
    EXPECT_EQ(heap.stats().bytes_in_use, 0u);
}

// ---- reuse of blocks freed across a snapshot (chunk-backed heaps) ----

class DeferredReuseTest : public testing::TestWithParam<Mode> {
protected:
    Heap heap{options_for(GetParam())};

    // Allocates `count` blocks of `size` and says whether `p` was among them.
    bool handed_out(void* p, std::size_t size, int count) {
        bool seen = false;
        for (int i = 0; i < count; ++i)
            seen |= heap.alloc(size) == p;
        return seen;
    }
};
INSTANTIATE_TEST_SUITE_P(Modes, DeferredReuseTest, PX_CHUNK_HEAP_MODES);

TEST_P(DeferredReuseTest, BlockFreedAfterTheSnapshotIsNotReusedBeforeTheRewind) {
    void* p = heap.alloc(64);
    ASSERT_NE(p, nullptr);
    Snapshot s = heap.snapshot();
    heap.free(p);
    EXPECT_FALSE(handed_out(p, 64, 200));
    ASSERT_EQ(heap.rewind(s), RewindStatus::ok);
}

TEST_P(DeferredReuseTest, BlockFreedAfterTheSnapshotIsReusedAfterTheRewind) {
    void* p = heap.alloc(64);
    void* neighbour = heap.alloc(64);
    ASSERT_TRUE(p && neighbour);
    fill(neighbour, 64, 3);
    Snapshot s = heap.snapshot();
    heap.free(p);
    ASSERT_EQ(heap.rewind(s), RewindStatus::ok);
    EXPECT_EQ(heap.alloc(64), p);
    EXPECT_TRUE(intact(neighbour, 64, 3)); // a live pre-snapshot block is untouched
}

TEST_P(DeferredReuseTest, MediumBlockFreedAfterTheSnapshotIsReusedOnlyAfterTheRewind) {
    void* p = heap.alloc(6000);
    ASSERT_NE(p, nullptr);
    Snapshot s = heap.snapshot();
    heap.free(p);
    EXPECT_FALSE(handed_out(p, 6000, 20));
    ASSERT_EQ(heap.rewind(s), RewindStatus::ok);
    EXPECT_EQ(heap.alloc(6000), p);
}

TEST_P(DeferredReuseTest, BaseBlockFreedTwoSnapshotsDeepWaitsForTheOuterRewind) {
    void* p = heap.alloc(64);
    ASSERT_NE(p, nullptr);
    Snapshot s1 = heap.snapshot();
    Snapshot s2 = heap.snapshot();
    heap.free(p);
    ASSERT_EQ(heap.rewind(s2), RewindStatus::ok);
    // s1 is still open and the block was live when it was taken.
    EXPECT_FALSE(handed_out(p, 64, 200));
    ASSERT_EQ(heap.rewind(s1), RewindStatus::ok);
    EXPECT_EQ(heap.alloc(64), p);
}

TEST_P(DeferredReuseTest, MiddleFrameBlockFreedInAnInnerFrameReturnsToItsFrame) {
    Snapshot s1 = heap.snapshot();
    void* p = heap.alloc(64);
    ASSERT_NE(p, nullptr);
    Snapshot s2 = heap.snapshot();
    heap.free(p);
    EXPECT_FALSE(handed_out(p, 64, 100));
    ASSERT_EQ(heap.rewind(s2), RewindStatus::ok);
    EXPECT_EQ(heap.alloc(64), p);
    ASSERT_EQ(heap.rewind(s1), RewindStatus::ok);
    EXPECT_EQ(heap.stats().bytes_in_use, 0u);
}

TEST_P(DeferredReuseTest, RewindingPastTheFrameOfAFreedBlockForgetsIt) {
    Snapshot s1 = heap.snapshot();
    void* p = heap.alloc(64);
    ASSERT_NE(p, nullptr);
    Snapshot s2 = heap.snapshot();
    heap.free(p);
    ASSERT_EQ(heap.rewind(s1), RewindStatus::ok);
    EXPECT_EQ(heap.stats().bytes_in_use, 0u);
    // The block is gone with its frame: it must not come back twice.
    void* a = heap.alloc(64);
    void* b = heap.alloc(64);
    EXPECT_NE(a, b);
    EXPECT_EQ(heap.rewind(s2), RewindStatus::stale);
}

TEST_P(DeferredReuseTest, LargeBlockFreedAfterTheSnapshotIsReleasedAtTheRewind) {
    void* p = heap.alloc(60000);
    ASSERT_NE(p, nullptr);
    HeapStats held = heap.stats();
    Snapshot s = heap.snapshot();
    heap.free(p);
    EXPECT_EQ(heap.stats().chunks, held.chunks);
    ASSERT_EQ(heap.rewind(s), RewindStatus::ok);
    EXPECT_EQ(heap.stats().chunks, held.chunks - 1);
    EXPECT_EQ(heap.stats().bytes_in_use, 0u);
}

TEST_P(DeferredReuseTest, RewindOfASnapshotTakenBeforeAnyAllocationReleasesAllChunks) {
    Snapshot s = heap.snapshot();
    for (int i = 0; i < 1000; ++i)
        ASSERT_NE(heap.alloc(900), nullptr);
    ASSERT_GT(heap.stats().chunks, 1u);
    ASSERT_EQ(heap.rewind(s), RewindStatus::ok);
    EXPECT_EQ(heap.stats().chunks, 0u);
    EXPECT_EQ(heap.stats().chunk_bytes, 0u);
    void* p = heap.alloc(900); // and the empty heap starts over
    ASSERT_NE(p, nullptr);
    fill(p, 900, 4);
    EXPECT_TRUE(intact(p, 900, 4));
}

} // namespace
} // namespace px::test
