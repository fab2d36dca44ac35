// heap_poison_test.cpp — HeapOptions::poison_rewound (rewound pages become PROT_NONE in every
// build) and the checks that abort on misuse in every build (double free, free or realloc of
// a block that is gone).
#include <gtest/gtest.h>

#include <csignal>
#include <vector>

#include "heap_test_support.h"
#include "px/heap.h"

namespace px::test {
namespace {

// Reads one byte the compiler cannot drop.
int touch(const void* p) { return *static_cast<const volatile unsigned char*>(p); }

// A dangling read into a PROT_NONE page: a plain SIGSEGV, or, in a sanitizer build, the
// sanitizer's report of it (ASan may see its own poison first: rewound memory is poisoned).
#if PX_TEST_SANITIZED
#define EXPECT_FAULTS(statement) EXPECT_DEATH(statement, "SEGV|use-after-poison")
#else
#define EXPECT_FAULTS(statement) EXPECT_EXIT(statement, testing::KilledBySignal(SIGSEGV), "")
#endif

HeapOptions poisoning() {
    HeapOptions o;
    o.poison_rewound = true;
    return o;
}

class PoisonRewoundTest : public testing::Test {
protected:
    void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
    Heap heap{poisoning()};
};

TEST_F(PoisonRewoundTest, ReadingASmallBlockOfARewoundSnapshotFaults) {
    ASSERT_NE(heap.alloc(100), nullptr);
    Snapshot s = heap.snapshot();
    // Well past the page the snapshot started on: that page stays accessible for older blocks.
    char* last = nullptr;
    for (int i = 0; i < 100; ++i)
        last = static_cast<char*>(heap.alloc(500));
    ASSERT_NE(last, nullptr);
    last[0] = 5;
    EXPECT_EQ(touch(last), 5);
    ASSERT_EQ(heap.rewind(s), RewindStatus::ok);
    EXPECT_FAULTS(touch(last));
}

TEST_F(PoisonRewoundTest, ReadingAChunkTakenAfterTheSnapshotFaults) {
    Snapshot s = heap.snapshot();
    std::vector<char*> blocks;
    while (heap.stats().chunks < 3)
        blocks.push_back(static_cast<char*>(heap.alloc(1000)));
    ASSERT_EQ(heap.rewind(s), RewindStatus::ok);
    EXPECT_FAULTS(touch(blocks.front()));
    EXPECT_FAULTS(touch(blocks.back()));
}

TEST_F(PoisonRewoundTest, ReadingARewoundLargeBlockFaults) {
    Snapshot s = heap.snapshot();
    auto* big = static_cast<char*>(heap.alloc(100000));
    ASSERT_NE(big, nullptr);
    big[99999] = 1;
    ASSERT_EQ(heap.rewind(s), RewindStatus::ok);
    EXPECT_FAULTS(touch(big));
    EXPECT_FAULTS(touch(big + 99999));
}

TEST_F(PoisonRewoundTest, ReadingALargeBlockFreedEarlyFaults) {
    auto* big = static_cast<char*>(heap.alloc(100000));
    ASSERT_NE(big, nullptr);
    heap.free(big);
    EXPECT_FAULTS(touch(big + 50000));
}

TEST_F(PoisonRewoundTest, BlocksFromBeforeTheSnapshotStayAccessible) {
    std::vector<std::pair<void*, std::size_t>> old;
    for (std::size_t n : {10, 500, 3000, 60000}) {
        void* p = heap.alloc(n);
        ASSERT_NE(p, nullptr);
        fill(p, n, static_cast<std::uint32_t>(n));
        old.emplace_back(p, n);
    }
    Snapshot s = heap.snapshot();
    for (int i = 0; i < 2000; ++i)
        ASSERT_NE(heap.alloc(700), nullptr);
    ASSERT_EQ(heap.rewind(s), RewindStatus::ok);
    for (auto& [p, n] : old)
        EXPECT_TRUE(intact(p, n, static_cast<std::uint32_t>(n))) << "block of " << n;
}

TEST_F(PoisonRewoundTest, RewoundPagesBecomeUsableAgainForNewBlocks) {
    Snapshot s = heap.snapshot();
    std::vector<char*> first;
    while (heap.stats().chunks < 3)
        first.push_back(static_cast<char*>(heap.alloc(1000)));
    ASSERT_EQ(heap.rewind(s), RewindStatus::ok);
    const HeapStats cached = heap.stats();
    // The same chunks come back from the cache, writable again; nothing new is mapped.
    Snapshot t = heap.snapshot();
    std::vector<std::pair<void*, std::uint32_t>> second;
    for (std::size_t i = 0; i < first.size(); ++i) {
        void* p = heap.alloc(1000);
        ASSERT_NE(p, nullptr);
        fill(p, 1000, static_cast<std::uint32_t>(i));
        second.emplace_back(p, static_cast<std::uint32_t>(i));
    }
    for (auto& [p, seed] : second)
        ASSERT_TRUE(intact(p, 1000, seed));
    EXPECT_EQ(heap.stats().chunk_bytes + heap.stats().cached_bytes,
              cached.chunk_bytes + cached.cached_bytes);
    EXPECT_LT(heap.stats().cached_bytes, cached.cached_bytes);
    ASSERT_EQ(heap.rewind(t), RewindStatus::ok);
}

TEST_F(PoisonRewoundTest, AlignedBlocksAfterARewindAreAccessible) {
    for (int round = 0; round < 20; ++round) {
        Snapshot s = heap.snapshot();
        for (std::size_t align = 32; align <= 65536; align *= 2) {
            void* p = heap.alloc_aligned(3000, align);
            ASSERT_NE(p, nullptr);
            ASSERT_TRUE(aligned_to(p, align));
            fill(p, 3000, static_cast<std::uint32_t>(align));
            ASSERT_TRUE(intact(p, 3000, static_cast<std::uint32_t>(align)));
        }
        ASSERT_EQ(heap.rewind(s), RewindStatus::ok);
    }
}

TEST_F(PoisonRewoundTest, TrimAndDestructionWorkWithProtectedPages) {
    Snapshot s = heap.snapshot();
    while (heap.stats().chunks < 4)
        ASSERT_NE(heap.alloc(2000), nullptr);
    ASSERT_EQ(heap.rewind(s), RewindStatus::ok);
    heap.trim(100 * kKiB);
    EXPECT_LE(heap.stats().cached_bytes, 100 * kKiB);
    heap.snapshot(); // left open: the destructor releases everything
    ASSERT_NE(heap.alloc(70000), nullptr);
}

// ---- misuse that aborts in every build ----
//
// Chunk-backed heaps only: in malloc_per_allocation mode a freed block goes straight back to
// malloc, so using it again is malloc's (or ASan's) to catch, not the heap's.

class MisuseDeathTest : public testing::TestWithParam<Mode> {
protected:
    void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
    Heap heap{options_for(GetParam())};
};
INSTANTIATE_TEST_SUITE_P(Modes, MisuseDeathTest, PX_CHUNK_HEAP_MODES);

TEST_P(MisuseDeathTest, DoubleFreeAborts) {
    void* p = heap.alloc(64);
    ASSERT_NE(p, nullptr);
    heap.free(p);
    EXPECT_DEATH(heap.free(p), "double free");
}

TEST_P(MisuseDeathTest, DoubleFreeOfAMediumBlockAborts) {
    void* p = heap.alloc(3000);
    ASSERT_NE(p, nullptr);
    heap.free(p);
    EXPECT_DEATH(heap.free(p), "double free");
}

TEST_P(MisuseDeathTest, DoubleFreeOfABlockFreedAcrossASnapshotAborts) {
    void* p = heap.alloc(64);
    ASSERT_NE(p, nullptr);
    heap.snapshot();
    heap.free(p);
    EXPECT_DEATH(heap.free(p), "double free");
}

TEST_P(MisuseDeathTest, ReallocOfAFreedBlockAborts) {
    void* p = heap.alloc(64);
    ASSERT_NE(p, nullptr);
    heap.free(p);
    EXPECT_DEATH((void)heap.realloc(p, 128), "realloc of freed block");
}

// Region mode only: with poison_rewound the rewound header is unmapped and the read faults
// before the heap can say anything.
TEST(RewoundBlockDeathTest, FreeOfABlockOfARewoundSnapshotAborts) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    Heap heap;
    ASSERT_NE(heap.alloc(16), nullptr);
    Snapshot s = heap.snapshot();
    void* p = heap.alloc(64);
    ASSERT_NE(p, nullptr);
    ASSERT_EQ(heap.rewind(s), RewindStatus::ok);
    EXPECT_DEATH(heap.free(p), "did not allocate or has already rewound");
}

} // namespace
} // namespace px::test
