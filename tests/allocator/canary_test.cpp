// canary_test.cpp — proof that ASan sees the heap's mistakes (built only with PX_TRACK=asan).
//
// These are canaries: each one does something wrong on purpose and expects ASan's report. If
// the heap ever stops poisoning (a track.h macro compiled away, a rewind that forgets to
// poison), the bad access goes through silently, the child process survives and EXPECT_DEATH
// fails. Death tests add no coverage; they guard the poisoning itself.
#include <gtest/gtest.h>
#include <sanitizer/asan_interface.h>

#include "heap_test_support.h"
#include "px/heap.h"

#if !PX_TRACKING
#error "canary_test.cpp needs heap tracking (PX_TRACK=asan): without it every canary would fail"
#endif

namespace px::test {
namespace {

int read_byte(const void* p) { return *static_cast<const volatile unsigned char*>(p); }
void write_byte(void* p) { *static_cast<volatile unsigned char*>(p) = 0x5A; }

HeapOptions malloc_mode() {
    HeapOptions o;
    o.malloc_per_allocation = true;
    return o;
}

bool poisoned(const void* p) { return __asan_address_is_poisoned(p) != 0; }

class AsanCanaryTest : public testing::Test {
protected:
    void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

TEST_F(AsanCanaryTest, TrackingIsAsanPoisoning) {
    // The same macro the heap's inline fast paths test: the canaries below mean something.
    EXPECT_EQ(PX_TRACKING, 1);
    char probe[16] = {};
    px_track_poison(probe, sizeof probe);
    EXPECT_TRUE(poisoned(probe));
    px_track_unpoison(probe, sizeof probe);
    EXPECT_FALSE(poisoned(probe));
}

TEST_F(AsanCanaryTest, ReadAfterRewindIsUseAfterPoison) {
    Heap heap;
    ASSERT_NE(heap.alloc(32), nullptr);
    Snapshot s = heap.snapshot();
    void* p = heap.alloc(64);
    ASSERT_NE(p, nullptr);
    write_byte(p);
    ASSERT_EQ(heap.rewind(s), RewindStatus::ok);
    EXPECT_DEATH(read_byte(p), "AddressSanitizer: use-after-poison");
}

TEST_F(AsanCanaryTest, ReadOfARewoundLargeBlockIsUseAfterPoison) {
    Heap heap;
    Snapshot s = heap.snapshot();
    auto* p = static_cast<char*>(heap.alloc(100000));
    ASSERT_NE(p, nullptr);
    ASSERT_EQ(heap.rewind(s), RewindStatus::ok);
    EXPECT_DEATH(read_byte(p + 5000), "AddressSanitizer: use-after-poison");
}

TEST_F(AsanCanaryTest, WriteOneBytePastAnAllocationIsCaught) {
    Heap heap;
    // 24: the end falls on a shadow granule; 20: inside one; 1000 and 40000: a medium block
    // and a large one. The class would have room for more: only the bytes asked are usable.
    for (std::size_t n : {24, 20, 1000, 40000}) {
        auto* p = static_cast<char*>(heap.alloc(n));
        ASSERT_NE(p, nullptr);
        write_byte(p + n - 1); // the last byte is fine
        EXPECT_DEATH(write_byte(p + n), "AddressSanitizer: use-after-poison") << "n = " << n;
    }
}

TEST_F(AsanCanaryTest, WriteOneBytePastAnAlignedAllocationIsCaught) {
    Heap heap;
    auto* p = static_cast<char*>(heap.alloc_aligned(40, 4096));
    ASSERT_NE(p, nullptr);
    EXPECT_DEATH(write_byte(p + 40), "AddressSanitizer: use-after-poison");
}

TEST_F(AsanCanaryTest, ReadOfTheBlockHeaderIsCaught) {
    Heap heap;
    auto* p = static_cast<char*>(heap.alloc(64));
    ASSERT_NE(p, nullptr);
    EXPECT_DEATH(read_byte(p - 1), "AddressSanitizer: use-after-poison");
}

TEST_F(AsanCanaryTest, ReadOfAFreedBlockIsCaught) {
    Heap heap;
    auto* p = static_cast<char*>(heap.alloc(64));
    ASSERT_NE(p, nullptr);
    heap.free(p);
    // The first word holds the free-list link, the rest is simply free: both are poisoned.
    EXPECT_DEATH(read_byte(p), "AddressSanitizer: use-after-poison");
    EXPECT_DEATH(read_byte(p + 40), "AddressSanitizer: use-after-poison");
}

TEST_F(AsanCanaryTest, ReadOfABlockFreedAfterItsSnapshotIsCaught) {
    Heap heap;
    auto* p = static_cast<char*>(heap.alloc(64));
    ASSERT_NE(p, nullptr);
    Snapshot s = heap.snapshot();
    heap.free(p); // deferred to the rewind, but already dead
    EXPECT_DEATH(read_byte(p + 8), "AddressSanitizer: use-after-poison");
    ASSERT_EQ(heap.rewind(s), RewindStatus::ok);
    EXPECT_DEATH(read_byte(p + 8), "AddressSanitizer: use-after-poison");
}

TEST_F(AsanCanaryTest, ReadOfAFreedLargeBlockIsCaught) {
    Heap heap;
    auto* p = static_cast<char*>(heap.alloc(100000));
    ASSERT_NE(p, nullptr);
    heap.free(p);
    EXPECT_DEATH(read_byte(p + 99999), "AddressSanitizer: use-after-poison");
}

TEST_F(AsanCanaryTest, ReadAfterRewindInMallocModeIsHeapUseAfterFree) {
    Heap heap(malloc_mode());
    Snapshot s = heap.snapshot();
    void* p = heap.alloc(64);
    ASSERT_NE(p, nullptr);
    write_byte(p);
    ASSERT_EQ(heap.rewind(s), RewindStatus::ok);
    EXPECT_DEATH(read_byte(p), "AddressSanitizer: heap-use-after-free");
}

TEST_F(AsanCanaryTest, ReadOfAFreedBlockInMallocModeIsHeapUseAfterFree) {
    Heap heap(malloc_mode());
    void* p = heap.alloc(64);
    ASSERT_NE(p, nullptr);
    heap.free(p);
    EXPECT_DEATH(read_byte(p), "AddressSanitizer: heap-use-after-free");
}

TEST_F(AsanCanaryTest, WritePastABlockInMallocModeIsHeapBufferOverflow) {
    Heap heap(malloc_mode());
    auto* p = static_cast<char*>(heap.alloc(20));
    ASSERT_NE(p, nullptr);
    EXPECT_DEATH(write_byte(p + 20), "AddressSanitizer: heap-buffer-overflow");
}

// ---- the poisoning state itself, without dying ----

TEST_F(AsanCanaryTest, LiveBytesAreUnpoisonedAndEverythingAroundThemIsPoisoned) {
    Heap heap;
    for (std::size_t n : {1, 20, 100, 3000, 50000}) {
        auto* p = static_cast<char*>(heap.alloc(n));
        ASSERT_NE(p, nullptr);
        EXPECT_EQ(__asan_region_is_poisoned(p, n), nullptr) << "n = " << n;
        EXPECT_TRUE(poisoned(p + n)) << "n = " << n;
        EXPECT_TRUE(poisoned(p - 1)) << "n = " << n;
        EXPECT_EQ(Heap::usable_size(p), n); // only unpoisoned bytes are promised
    }
}

TEST_F(AsanCanaryTest, RewindPoisonsWhatItReleasesAndNothingOlder) {
    Heap heap;
    auto* old = static_cast<char*>(heap.alloc(48));
    ASSERT_NE(old, nullptr);
    Snapshot s = heap.snapshot();
    auto* small = static_cast<char*>(heap.alloc(48));
    auto* big = static_cast<char*>(heap.alloc(70000));
    ASSERT_TRUE(small && big);
    ASSERT_EQ(heap.rewind(s), RewindStatus::ok);
    EXPECT_EQ(__asan_region_is_poisoned(old, 48), nullptr);
    EXPECT_TRUE(poisoned(small));
    EXPECT_TRUE(poisoned(small + 47));
    EXPECT_TRUE(poisoned(big));
    EXPECT_TRUE(poisoned(big + 69999));
}

TEST_F(AsanCanaryTest, ReallocInPlaceMovesThePoisonBoundary) {
    Heap heap;
    auto* p = static_cast<char*>(heap.alloc(30)); // class 32
    ASSERT_NE(p, nullptr);
    ASSERT_EQ(heap.realloc(p, 20), p);
    EXPECT_TRUE(poisoned(p + 20));
    ASSERT_EQ(heap.realloc(p, 32), p);
    EXPECT_EQ(__asan_region_is_poisoned(p, 32), nullptr);
}

TEST_F(AsanCanaryTest, ReusedBlockIsUnpoisonedAgain) {
    Heap heap;
    auto* p = static_cast<char*>(heap.alloc(64));
    ASSERT_NE(p, nullptr);
    heap.free(p);
    ASSERT_TRUE(poisoned(p));
    ASSERT_EQ(heap.alloc(64), p);
    EXPECT_EQ(__asan_region_is_poisoned(p, 64), nullptr);
}

} // namespace
} // namespace px::test
