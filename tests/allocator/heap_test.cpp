// heap_test.cpp — construction, identity, options, describe() and the size classes.
#include <gtest/gtest.h>

#include <cstring>
#include <set>
#include <string>

#include "heap_test_support.h"
#include "px/heap.h"

namespace px::test {
namespace {

TEST(HeapTest, DefaultOptionsAreTheDocumentedDefaults) {
    Heap h;
    EXPECT_EQ(h.options().limit, 0u);
    EXPECT_EQ(h.options().cache_bytes, std::size_t{8} << 20);
    EXPECT_FALSE(h.options().poison_rewound);
    EXPECT_FALSE(h.options().malloc_per_allocation);
    EXPECT_EQ(h.limit(), 0u);
    EXPECT_EQ(h.depth(), 0u);
}

TEST(HeapTest, FreshHeapHasAllStatsZero) {
    Heap h;
    EXPECT_EQ(fields(h.stats()), fields(HeapStats{}));
}

TEST(HeapTest, OptionsPassedToTheConstructorAreKept) {
    HeapOptions o;
    o.limit = 4096;
    o.cache_bytes = 12345;
    o.poison_rewound = true;
    Heap h(o);
    EXPECT_EQ(h.options().limit, 4096u);
    EXPECT_EQ(h.options().cache_bytes, 12345u);
    EXPECT_TRUE(h.options().poison_rewound);
    EXPECT_FALSE(h.options().malloc_per_allocation);
    EXPECT_EQ(h.limit(), 4096u);
}

TEST(HeapTest, EachHeapHasADistinctNonZeroId) {
    Heap a, b, c;
    EXPECT_NE(a.id(), 0u);
    EXPECT_NE(b.id(), 0u);
    EXPECT_NE(c.id(), 0u);
    EXPECT_EQ((std::set<std::uint64_t>{a.id(), b.id(), c.id()}).size(), 3u);
}

TEST(HeapTest, SetLimitReadsBackAndZeroMeansUnlimited) {
    Heap h;
    h.set_limit(1000);
    EXPECT_EQ(h.limit(), 1000u);
    h.set_limit(0);
    EXPECT_EQ(h.limit(), 0u);
}

TEST(HeapTest, FreeOfNullptrIsANoOp) {
    Heap h;
    void* p = h.alloc(10);
    HeapStats before = h.stats();
    h.free(nullptr);
    EXPECT_EQ(fields(h.stats()), fields(before));
    h.free(p);
}

TEST(HeapTest, DescribeGivesEachRewindStatusItsOwnSentence) {
    const RewindStatus all[] = {RewindStatus::ok, RewindStatus::never_taken, RewindStatus::foreign,
                                RewindStatus::stale, RewindStatus::inside_cleanup};
    std::set<std::string> seen;
    for (RewindStatus s : all) {
        const char* text = describe(s);
        ASSERT_NE(text, nullptr);
        EXPECT_GT(std::strlen(text), 0u);
        seen.insert(text);
    }
    EXPECT_EQ(seen.size(), std::size(all));
    EXPECT_NE(std::string(describe(RewindStatus::stale)).find("already rewound"),
              std::string::npos);
    EXPECT_NE(std::string(describe(RewindStatus::never_taken)).find("never taken"),
              std::string::npos);
    EXPECT_NE(std::string(describe(RewindStatus::foreign)).find("another heap"), std::string::npos);
    EXPECT_NE(std::string(describe(RewindStatus::inside_cleanup)).find("cleanup"),
              std::string::npos);
}

TEST(HeapTest, DescribeOfAnOutOfRangeStatusSaysUnknown) {
    // A value no enumerator has (a corrupted status): still a sentence, never nullptr.
    const char* text = describe(static_cast<RewindStatus>(97));
    ASSERT_NE(text, nullptr);
    EXPECT_NE(std::string(text).find("unknown"), std::string::npos);
}

// ---- size classes ----

static_assert(size_class(1024) == 63, "the last small class");
static_assert(class_size(64) == 1280, "the first medium class is 1 KiB + 256");
static_assert(size_class(kMediumMax) == kClassCount - 1, "32 KiB is the last class");

TEST(SizeClassTest, ZeroAndOneByteShareTheSmallestClass) {
    EXPECT_EQ(size_class(0), 0u);
    EXPECT_EQ(size_class(1), 0u);
    EXPECT_EQ(size_class(16), 0u);
    EXPECT_EQ(class_size(0), 16u);
}

TEST(SizeClassTest, SmallSizesRoundUpTo16Bytes) {
    for (std::size_t n = 1; n <= kSmallMax; ++n)
        ASSERT_EQ(class_size(size_class(n)), (n + 15) / 16 * 16) << "n = " << n;
}

TEST(SizeClassTest, MediumSizesRoundUpToAQuarterOfTheirPowerOfTwo) {
    for (std::size_t n = kSmallMax + 1; n <= kMediumMax; ++n) {
        std::size_t k = 0;
        while ((std::size_t{2} << k) < n)
            ++k; // n is in (2^k, 2^(k+1)]
        std::size_t quarter = std::size_t{1} << (k - 2);
        std::size_t c = class_size(size_class(n));
        ASSERT_GE(c, n) << "n = " << n;
        ASSERT_EQ(c % quarter, 0u) << "n = " << n;
        ASSERT_LT(c - n, quarter) << "n = " << n;
    }
}

TEST(SizeClassTest, ClassesAreMonotonicInSize) {
    for (std::size_t n = 1; n < kMediumMax; ++n)
        ASSERT_LE(size_class(n), size_class(n + 1)) << "n = " << n;
    for (unsigned c = 0; c + 1 < kClassCount; ++c)
        ASSERT_LT(class_size(c), class_size(c + 1)) << "class " << c;
}

TEST(SizeClassTest, EveryClassSizeMapsBackToItsClass) {
    for (unsigned c = 0; c < kClassCount; ++c)
        ASSERT_EQ(size_class(class_size(c)), c) << "class " << c;
}

TEST(SizeClassTest, TheLargestClassIs32KiB) { EXPECT_EQ(class_size(kClassCount - 1), kMediumMax); }

} // namespace
} // namespace px::test
