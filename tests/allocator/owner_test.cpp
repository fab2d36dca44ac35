// owner_test.cpp — owner_of() and is_context_memory(): which heap, if any, owns an address.
#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>
#include <thread>
#include <vector>

#include "heap_test_support.h"
#include "px/heap.h"

namespace px::test {
namespace {

int g_static_object = 42;

class OwnerTest : public testing::TestWithParam<Mode> {
protected:
    HeapOptions opts() const { return options_for(GetParam()); }
};
INSTANTIATE_TEST_SUITE_P(Modes, OwnerTest, PX_ALL_HEAP_MODES);

TEST_P(OwnerTest, EveryKindOfBlockIsOwnedByItsHeap) {
    Heap heap(opts());
    struct Case {
        std::size_t n;
        std::size_t align;
    };
    for (Case c : {Case{1, 16}, Case{100, 16}, Case{5000, 16}, Case{40000, 16}, Case{3 * kMiB, 16},
                   Case{64, 4096}, Case{50000, 65536}}) {
        auto* p = static_cast<char*>(heap.alloc_aligned(c.n, c.align));
        ASSERT_NE(p, nullptr);
        EXPECT_EQ(owner_of(p), &heap) << "n = " << c.n;
        EXPECT_EQ(owner_of(p + c.n / 2), &heap) << "n = " << c.n << ", middle";
        EXPECT_EQ(owner_of(p + c.n - 1), &heap) << "n = " << c.n << ", last byte";
        EXPECT_TRUE(is_context_memory(p));
    }
}

TEST_P(OwnerTest, MainMemoryIsOwnedByNoHeap) {
    Heap heap(opts()); // a heap exists, so the region (and any malloc registry) is in use
    ASSERT_NE(heap.alloc(100), nullptr);
    int on_stack = 0;
    auto from_new = std::make_unique<int>(1);
    void* from_malloc = std::malloc(64);
    ASSERT_NE(from_malloc, nullptr);
    const void* all[] = {&on_stack, from_new.get(), from_malloc, &g_static_object, nullptr};
    for (const void* p : all) {
        EXPECT_EQ(owner_of(p), nullptr) << p;
        EXPECT_FALSE(is_context_memory(p)) << p;
    }
    std::free(from_malloc);
}

TEST_P(OwnerTest, AddressesBelowAndAboveEveryBlockAreOwnedByNoHeap) {
    Heap heap(opts());
    ASSERT_NE(heap.alloc(100), nullptr);
    const void* low = reinterpret_cast<const void*>(std::uintptr_t{4096});
    const void* high = reinterpret_cast<const void*>(~std::uintptr_t{0} - 4096);
    EXPECT_EQ(owner_of(low), nullptr);
    EXPECT_EQ(owner_of(high), nullptr);
    EXPECT_FALSE(is_context_memory(low));
    EXPECT_FALSE(is_context_memory(high));
}

TEST_P(OwnerTest, TwoHeapsOwnTheirOwnBlocks) {
    Heap a(opts()), b(opts());
    for (std::size_t n : {64, 70000}) {
        void* pa = a.alloc(n);
        void* pb = b.alloc(n);
        ASSERT_TRUE(pa && pb);
        EXPECT_EQ(owner_of(pa), &a);
        EXPECT_EQ(owner_of(pb), &b);
    }
}

TEST_P(OwnerTest, OwnerOfIsTheSameFromAnyThread) {
    Heap heap(opts());
    std::vector<void*> blocks = {heap.alloc(10), heap.alloc(4000), heap.alloc(100000)};
    std::vector<Heap*> seen(blocks.size());
    std::thread t([&] {
        for (std::size_t i = 0; i < blocks.size(); ++i)
            seen[i] = owner_of(blocks[i]);
    });
    t.join();
    for (std::size_t i = 0; i < blocks.size(); ++i)
        EXPECT_EQ(seen[i], &heap) << "block " << i;
}

TEST_P(OwnerTest, OldAddressesAreOwnedByNoHeapAfterTheHeapIsDestroyed) {
    std::vector<const void*> addresses;
    {
        Heap heap(opts());
        for (std::size_t n : {16, 1000, 20000, 100000})
            addresses.push_back(heap.alloc(n));
        Snapshot s = heap.snapshot(); // rewound memory sits in the cache when the heap dies
        addresses.push_back(heap.alloc(300000));
        ASSERT_EQ(heap.rewind(s), RewindStatus::ok);
        for (const void* p : addresses)
            ASSERT_NE(p, nullptr);
    }
    for (const void* p : addresses)
        EXPECT_EQ(owner_of(p), nullptr) << p;
}

TEST_P(OwnerTest, EveryOwnedAddressIsContextMemory) {
    Heap heap(opts());
    for (std::size_t n : {16, 3000, 100000}) {
        void* p = heap.alloc(n);
        ASSERT_NE(p, nullptr);
        ASSERT_EQ(owner_of(p), &heap);
        EXPECT_TRUE(is_context_memory(p)) << "n = " << n;
    }
}

// A zero-byte block is still a block the heap returned: free() and usable_size() accept it,
// and owner_of() must name its heap like any other.
TEST_P(OwnerTest, ZeroByteBlockIsOwnedByItsHeap) {
    Heap heap(opts());
    void* p = heap.alloc(0);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(owner_of(p), &heap);
    EXPECT_TRUE(is_context_memory(p));
    heap.free(p);
}

class ChunkOwnerTest : public OwnerTest {};
INSTANTIATE_TEST_SUITE_P(Modes, ChunkOwnerTest, PX_CHUNK_HEAP_MODES);

// is_context_memory() answers "does p lie in the region at all": cheaper than owner_of(), and
// still true for region memory no heap holds any more.
TEST_P(ChunkOwnerTest, RegionMemoryIsContextMemoryEvenWhenNoHeapOwnsIt) {
    const void* p = nullptr;
    {
        Heap heap(opts());
        p = heap.alloc(100000);
        ASSERT_NE(p, nullptr);
    }
    ASSERT_EQ(owner_of(p), nullptr);
    EXPECT_TRUE(is_context_memory(p));
}

TEST_P(ChunkOwnerTest, BlockOnAFreeListIsStillOwnedByItsHeap) {
    Heap heap(opts());
    void* p = heap.alloc(64);
    ASSERT_NE(p, nullptr);
    heap.free(p);
    EXPECT_EQ(owner_of(p), &heap);
}

TEST_P(ChunkOwnerTest, MemoryReturnedToTheOSIsOwnedByNoHeap) {
    Heap heap(opts());
    Snapshot s = heap.snapshot();
    void* big = heap.alloc(200000);
    ASSERT_NE(big, nullptr);
    ASSERT_EQ(heap.rewind(s), RewindStatus::ok);
    EXPECT_EQ(owner_of(big), &heap); // cached for reuse, not returned yet
    heap.trim();
    EXPECT_EQ(owner_of(big), nullptr);
}

TEST_P(ChunkOwnerTest, LargeBlockFreedEarlyIsOwnedByNoHeapOnceTrimmed) {
    Heap heap(opts());
    void* big = heap.alloc(200000);
    ASSERT_NE(big, nullptr);
    heap.free(big);
    heap.trim();
    EXPECT_EQ(owner_of(big), nullptr);
}

TEST_P(ChunkOwnerTest, ChunkPassesToTheNextHeapThatTakesIt) {
    const void* addr = nullptr;
    {
        Heap first(opts());
        addr = first.alloc(100000);
        ASSERT_NE(addr, nullptr);
    }
    ASSERT_EQ(owner_of(addr), nullptr);
    // Region memory is recycled: whoever holds an address now owns it. The granules come
    // back first-fit, so the next heap asking for runs of the same size reaches them.
    Heap second(opts());
    for (int i = 0; i < 4096 && owner_of(addr) == nullptr; ++i)
        ASSERT_NE(second.alloc(100000), nullptr);
    EXPECT_EQ(owner_of(addr), &second);
}

} // namespace
} // namespace px::test
