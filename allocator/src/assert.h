// assert.h — the allocator's checks (private).
//
// PX_ASSERT_LEVEL selects how much is checked, as the build preset says:
//   0  only checks that are cheap and guard against silent corruption (double free)
//   1  internal invariants on slow paths (debug, asan, tsan presets)
//   2  expensive whole-heap checks (debug preset)
// A failed check prints one line naming the heap and the broken rule, then aborts: memory
// is already wrong, so carrying on would only move the crash somewhere less clear.
#pragma once

#ifndef PX_ASSERT_LEVEL
#define PX_ASSERT_LEVEL 0
#endif

namespace px::detail {
[[noreturn]] void fatal(const char* fmt, ...) noexcept __attribute__((format(printf, 1, 2)));
}

#define PX_CHECK(cond, ...)                                                                        \
    do {                                                                                           \
        if (!(cond)) [[unlikely]]                                                                  \
            ::px::detail::fatal(__VA_ARGS__);                                                      \
    } while (0)

#if PX_ASSERT_LEVEL >= 1
#define PX_ASSERT(cond)                                                                            \
    PX_CHECK(cond, "internal check failed: %s (%s:%d)", #cond, __FILE__, __LINE__)
#else
#define PX_ASSERT(cond) ((void)0)
#endif
#if PX_ASSERT_LEVEL >= 2
#define PX_ASSERT_EXPENSIVE(cond) PX_ASSERT(cond)
#else
#define PX_ASSERT_EXPENSIVE(cond) ((void)0)
#endif
