// owner_test.cpp — px::owner(): main memory, the current context's heap, another heap.
#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <thread>

#include "px/guards.h"

namespace px {
namespace {

int g_static_object = 1;

HeapOptions options(bool malloc_mode) {
    HeapOptions o;
    o.malloc_per_allocation = malloc_mode;
    return o;
}

class OwnerTest : public testing::TestWithParam<bool> {
protected:
    Heap mine{options(GetParam())};
    Heap theirs{options(GetParam())};
};
INSTANTIATE_TEST_SUITE_P(Heaps, OwnerTest, testing::Values(false, true),
                         [](const testing::TestParamInfo<bool>& info) {
                             return std::string(info.param ? "malloc_per_allocation" : "region");
                         });

TEST_P(OwnerTest, MainMemoryIsMainInsideAndOutsideAContext) {
    ASSERT_NE(mine.alloc(10), nullptr);
    int on_stack = 0;
    auto from_new = std::make_unique<long>(2);
    void* from_malloc = std::malloc(32);
    const void* all[] = {&on_stack, from_new.get(), from_malloc, &g_static_object, nullptr};
    for (const void* p : all)
        EXPECT_EQ(owner(p), Owner::main) << p;
    Context ctx{&mine, 1, nullptr};
    ContextScope scope(ctx);
    for (const void* p : all)
        EXPECT_EQ(owner(p), Owner::main) << p;
    std::free(from_malloc);
}

TEST_P(OwnerTest, MemoryOfTheCurrentContextsHeapIsCurrentContext) {
    Context ctx{&mine, 1, nullptr};
    ContextScope scope(ctx);
    for (std::size_t n : {16, 4000, 100000}) {
        void* p = mine.alloc(n);
        ASSERT_NE(p, nullptr);
        EXPECT_EQ(owner(p), Owner::current_context) << "n = " << n;
    }
}

TEST_P(OwnerTest, MemoryOfAnotherHeapIsOtherContext) {
    void* p = theirs.alloc(100);
    ASSERT_NE(p, nullptr);
    Context ctx{&mine, 1, nullptr};
    ContextScope scope(ctx);
    EXPECT_EQ(owner(p), Owner::other_context);
}

TEST_P(OwnerTest, MemoryOfTheContextsSessionHeapIsSession) {
    void* p = theirs.alloc(100);
    ASSERT_NE(p, nullptr);
    Context ctx{&mine, 1, nullptr, &theirs};
    {
        ContextScope scope(ctx);
        EXPECT_EQ(owner(p), Owner::session);
        EXPECT_STREQ(describe(owner(p)), "session");
    }
    Context other{&mine, 1, nullptr}; // another connection's context: not its session
    ContextScope scope(other);
    EXPECT_EQ(owner(p), Owner::other_context);
}

TEST_P(OwnerTest, HeapSwitchMovesAllocationAndOwnershipForItsScope) {
    void* p = mine.alloc(100);
    void* q = theirs.alloc(100);
    ASSERT_TRUE(p && q);
    Context ctx{&mine, 1, nullptr, &theirs};
    ContextScope scope(ctx);
    {
        HeapSwitch to_session(ctx, theirs);
        EXPECT_EQ(ctx.heap, &theirs);
        EXPECT_EQ(owner(q), Owner::current_context);
        EXPECT_EQ(owner(p), Owner::other_context);
        {
            HeapSwitch back(ctx, mine);
            EXPECT_EQ(owner(p), Owner::current_context);
        }
        EXPECT_EQ(ctx.heap, &theirs);
    }
    EXPECT_EQ(ctx.heap, &mine);
    EXPECT_EQ(owner(q), Owner::session);
}

TEST_P(OwnerTest, ContextMemoryOutsideAnyContextIsOtherContext) {
    void* p = mine.alloc(100);
    ASSERT_NE(p, nullptr);
    ASSERT_FALSE(in_parallel_context());
    EXPECT_EQ(owner(p), Owner::other_context);
}

TEST_P(OwnerTest, OwnerFollowsTheInnermostScope) {
    void* p = mine.alloc(100);
    void* q = theirs.alloc(100);
    ASSERT_TRUE(p && q);
    Context a{&mine, 1, nullptr};
    Context b{&theirs, 2, nullptr};
    ContextScope outer(a);
    EXPECT_EQ(owner(p), Owner::current_context);
    EXPECT_EQ(owner(q), Owner::other_context);
    {
        ContextScope inner(b);
        EXPECT_EQ(owner(p), Owner::other_context);
        EXPECT_EQ(owner(q), Owner::current_context);
    }
    EXPECT_EQ(owner(p), Owner::current_context);
}

TEST_P(OwnerTest, ContextWithoutAHeapOwnsNothing) {
    void* p = mine.alloc(100);
    ASSERT_NE(p, nullptr);
    Context bare{nullptr, 1, nullptr};
    ContextScope scope(bare);
    EXPECT_EQ(owner(p), Owner::other_context);
}

TEST_P(OwnerTest, OwnerDependsOnTheAskingThreadsContext) {
    void* p = mine.alloc(100);
    ASSERT_NE(p, nullptr);
    Context a{&mine, 1, nullptr};
    ContextScope scope(a);
    Owner seen_by_other = Owner::main;
    Owner seen_by_other_in_its_context = Owner::main;
    std::thread t([&] {
        seen_by_other = owner(p);
        Context b{&theirs, 2, nullptr};
        ContextScope s(b);
        seen_by_other_in_its_context = owner(p);
    });
    t.join();
    EXPECT_EQ(owner(p), Owner::current_context);
    EXPECT_EQ(seen_by_other, Owner::other_context);
    EXPECT_EQ(seen_by_other_in_its_context, Owner::other_context);
}

TEST(OwnerDescribeTest, EachOwnerHasItsName) {
    EXPECT_STREQ(describe(Owner::main), "main");
    EXPECT_STREQ(describe(Owner::current_context), "current context");
    EXPECT_STREQ(describe(Owner::other_context), "another context");
}

TEST(OwnerDescribeTest, AnOutOfRangeOwnerIsUnknown) {
    EXPECT_STREQ(describe(static_cast<Owner>(41)), "unknown");
}

} // namespace
} // namespace px
