// fuzz_heap_rewind.cpp — random operation sequences on two px::Heaps and their DeallocLists,
// checked after every operation against a shadow model built from px/heap.h and px/guards.h.
//
// Input: byte 0 configures the two heaps (struct Config); the rest is read one operation at a
// time through FuzzedDataProvider, which takes integers from the *end* of the input: a byte
// picking the operation (bits 1-7, through kOpWeights) and the heap (bit 0), then the
// operation's arguments. fuzz/make_seeds.py writes inputs in this format; keep them in step.
//
// The model keeps, per heap: the live blocks (address, size, alignment, the frame that
// allocated them), the frames (the base and one per open snapshot) with how many freed blocks
// of each size class wait on their free lists and which older blocks wait for a rewind, the
// registered cleanups and tracked objects in creation order, the limit and every counter of
// HeapStats. From that it predicts which allocations must succeed and what they cost in
// bytes_in_use and bytes_held (the gross-size formula of heap.h, computed here), the status of
// every rewind, which callbacks a rewind or a destructor runs and in what order, and what is
// live and held afterwards. Three things are learned from the library rather than predicted:
// the sizes of its own bookkeeping (one cleanup, one DeallocList record), measured once at
// start-up and then required never to change; and the alignment padding of a block aligned
// above 16 bytes, which must lie in [0, alignment - 16].
//
// Work per input is bounded (kMaxOps, kSizeBudget, kVerifyBudget, kCheckBudget, kMaxLive) so
// the target stays in the thousands of executions per second under ASan.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <array>
#include <cstdarg>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <tuple>
#include <utility>
#include <vector>

#include "px/guards.h"
#include "px/heap.h"

namespace {

using px::RewindStatus;

constexpr std::size_t kMaxInput = 4096;           // longer inputs are cut here
constexpr int kMaxOps = 256;                      // operations per input
constexpr std::size_t kMaxSize = 100u << 10;      // largest block asked for
constexpr std::size_t kSizeBudget = 128u << 10;   // bytes asked for (> 1 KiB each) per input
constexpr std::size_t kVerifyBudget = 512u << 10; // bytes sweeps compare in full per input
constexpr std::size_t kCheckBudget = 4096;        // blocks checked after rewinds, per input
constexpr std::size_t kMaxLive = 160;             // live blocks per heap
constexpr std::size_t kMaxEntries = 96;           // cleanups plus tracked objects per heap
constexpr std::size_t kMaxDepth = 40;             // open snapshots per heap
constexpr std::size_t kMaxClosed = 16;            // stale snapshots remembered per heap
constexpr int kSweepEvery = 128;                  // operations between two full sweeps
constexpr std::size_t kPatternSpread = 4096;      // distinct starting points in the pattern
constexpr std::size_t kHeader = 16;               // heap.h: "a 16-byte header before every block"
constexpr std::size_t kMedium = 32u << 10;        // heap.h: larger blocks get a chunk of their own

// ---- failure reporting -------------------------------------------------------------------

struct Where {
    int op = -1;
    const char* what = "start-up";
};
Where g_where;
bool g_trace = false;

[[noreturn]] __attribute__((format(printf, 3, 4))) void fail(int line, const char* cond,
                                                             const char* fmt, ...) {
    std::fprintf(stderr, "fuzz_heap_rewind: op %d (%s), line %d: check failed: %s: ", g_where.op,
                 g_where.what, line, cond);
    std::va_list ap;
    va_start(ap, fmt);
    std::vfprintf(stderr, fmt, ap);
    va_end(ap);
    std::fputc('\n', stderr);
    std::abort();
}

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) [[unlikely]]                                                                  \
            fail(__LINE__, #cond, __VA_ARGS__);                                                    \
    } while (0)

unsigned long long ull(std::uint64_t v) { return static_cast<unsigned long long>(v); }

// ---- the documented size formula, computed independently ---------------------------------

std::size_t round_up(std::size_t n, std::size_t to) { return (n + to - 1) / to * to; }

// heap.h: "blocks up to 1 KiB round up to 16 bytes, up to 32 KiB to a quarter of a power of
// two". A zero-byte block still occupies the smallest class.
std::size_t model_class_size(std::size_t n) {
    if (n <= 1024)
        return n == 0 ? 16 : round_up(n, 16);
    std::size_t pow = 1024; // the power of two just below n: pow < n <= 2 * pow
    while (2 * pow < n)
        pow *= 2;
    return round_up(n, pow / 4);
}

// heap.h: "a block of n <= 32 KiB bytes counts 16 + class_size(n); a larger block counts
// 32 + n rounded up to 16."
std::size_t model_gross(std::size_t n) {
    return n <= kMedium ? kHeader + model_class_size(n) : 2 * kHeader + round_up(n, 16);
}

// The free list a block of n bytes goes to, named by its class size; 0 for a large block,
// which has a chunk of its own instead.
std::size_t class_of(std::size_t n) { return n <= kMedium ? model_class_size(n) : 0; }

// ---- process-wide state: fill pattern and bookkeeping sizes ------------------------------

// The heap's own records, allocated from the heap like any block: add_cleanup() takes one
// cleanup; DeallocList::track() takes a record, then a cleanup (guards.cpp), and gives both
// back when the object is untracked. Their gross sizes are measured, their classes follow.
struct Bookkeeping {
    std::size_t cleanup = 0; // gross bytes of one cleanup
    std::size_t record = 0;  // gross bytes of one DeallocList record
};

struct Globals {
    std::vector<unsigned char> pattern; // kMaxSize + kPatternSpread pseudo-random bytes
    Bookkeeping book;
    px::Snapshot dead; // taken on a heap that no longer exists
};

void noop_cleanup(void* /*arg*/) {}
void noop_dealloc(void* /*object*/) {}

// Measures the bookkeeping on a fresh heap and checks it behaves like any block: counted in
// bytes_in_use and bytes_held, reused through the free lists after being given back.
Bookkeeping measure_bookkeeping(bool malloc_mode) {
    px::HeapOptions options;
    options.malloc_per_allocation = malloc_mode;
    px::Heap heap(options);
    const px::HeapStats s0 = heap.stats();
    px::Cleanup* c = heap.add_cleanup(noop_cleanup, nullptr);
    CHECK(c != nullptr, "add_cleanup on an empty heap without a limit");
    const px::HeapStats s1 = heap.stats();
    heap.cancel_cleanup(c);
    const px::HeapStats s2 = heap.stats();
    Bookkeeping book;
    book.cleanup = s1.bytes_in_use - s0.bytes_in_use;
    CHECK(book.cleanup > kHeader && book.cleanup <= 1024 && book.cleanup % 16 == 0,
          "a cleanup counts %zu bytes", book.cleanup);
    CHECK(s1.bytes_held - s0.bytes_held == book.cleanup && s1.allocations == s0.allocations + 1,
          "a cleanup: %zu bytes held, %llu allocations", s1.bytes_held - s0.bytes_held,
          ull(s1.allocations - s0.allocations));
    CHECK(s2.bytes_in_use == s0.bytes_in_use && s2.frees == s1.frees + 1,
          "cancel_cleanup left %zu bytes in use, %llu frees", s2.bytes_in_use,
          ull(s2.frees - s1.frees));
    // The cancelled cleanup waits on a free list, so tracking reuses it and holds only the
    // record's bytes more.
    px::DeallocList list(heap);
    int object = 0;
    CHECK(list.track(&object, noop_dealloc) == px::TrackStatus::ok, "track on an empty heap");
    const px::HeapStats s3 = heap.stats();
    const std::size_t both = s3.bytes_in_use - s2.bytes_in_use;
    book.record = both - book.cleanup;
    CHECK(book.record > kHeader && book.record <= 1024 && book.record % 16 == 0,
          "a DeallocList record counts %zu bytes", book.record);
    CHECK(s3.bytes_held - s2.bytes_held == (malloc_mode ? both : book.record) &&
              s3.allocations == s2.allocations + 2,
          "tracking: %zu bytes held, %llu allocations", s3.bytes_held - s2.bytes_held,
          ull(s3.allocations - s2.allocations));
    CHECK(list.untrack(&object), "untrack of a tracked object");
    const px::HeapStats s4 = heap.stats();
    CHECK(s4.bytes_in_use == s2.bytes_in_use && s4.frees == s3.frees + 2,
          "untrack left %zu bytes in use, %llu frees", s4.bytes_in_use, ull(s4.frees - s3.frees));
    return book;
}

Globals make_globals() {
    Globals g;
    g.pattern.resize(kMaxSize + kPatternSpread);
    std::uint64_t x = 0x9E3779B97F4A7C15ull;
    for (unsigned char& byte : g.pattern) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        byte = static_cast<unsigned char>(x >> 24);
    }
    g.book = measure_bookkeeping(false);
    const Bookkeeping in_malloc_mode = measure_bookkeeping(true);
    CHECK(in_malloc_mode.cleanup == g.book.cleanup && in_malloc_mode.record == g.book.record,
          "bookkeeping sizes differ in malloc_per_allocation mode: %zu/%zu vs %zu/%zu",
          in_malloc_mode.cleanup, in_malloc_mode.record, g.book.cleanup, g.book.record);
    px::Heap gone;
    g.dead = gone.snapshot();
    CHECK(g.dead.heap_id == gone.id(), "snapshot of heap %llu names heap %llu", ull(gone.id()),
          ull(g.dead.heap_id));
    return g;
}

const Globals& globals() {
    static const Globals g = make_globals();
    return g;
}

const unsigned char* pattern_of(std::uint64_t id) {
    return globals().pattern.data() + (id * 0x9E3779B1u) % kPatternSpread;
}

// ---- the model ---------------------------------------------------------------------------

struct Block {
    char* p = nullptr;
    std::size_t size = 0;
    std::size_t align = 16;
    std::uint64_t id = 0;  // selects the fill pattern
    std::uint64_t gen = 0; // model frame that allocated it
    int heap = 0;
    bool tracked = false;
    std::uint32_t pos = 0; // index in HeapModel::live
};

// What a plain cleanup does when it runs.
enum Kind : std::uint8_t {
    kPlain,          // nothing but the checks every callback makes
    kRewindInside,   // tries to rewind its own heap, which must be refused
    kCancelOther,    // cancels another pending cleanup, which must then never run
    kAllocInside,    // allocates; the rewind running it releases the block again
    kUntrackOther,   // untracks a tracked object, whose callback must then never run
    kSnapshotInside, // takes a snapshot, which the rewind running it discards again
    kRewindOther,    // rewinds the other heap: allowed, unless that heap runs callbacks too
    kPlainKinds,
    kDealloc = kPlainKinds, // a DeallocList record, not a plain cleanup
};

struct Entry {
    std::uint64_t seq = 0;
    std::uint64_t gen = 0;
    px::Cleanup* handle = nullptr; // plain cleanups
    std::uint32_t slot = 0;        // kDealloc: the tracked block
    std::uint8_t kind = kPlain;
    std::uint8_t param = 0;
};

// A freed block that is not reusable yet: it belongs to an older frame than the one that was
// innermost when it was freed, and becomes reusable when a rewind makes its frame innermost.
struct Pending {
    std::uint64_t gen = 0;
    std::size_t cls = 0;     // class size; 0 for a large block
    std::size_t gross = 0;   // what it counts in bytes_held
    std::uintptr_t addr = 0; // one of ours; 0 for the heap's own bookkeeping
};

struct FrameState {
    std::map<std::size_t, std::uint32_t> reusable; // class size -> blocks on its free list
    std::vector<Pending> pending;
};

struct Snap {
    px::Snapshot snap;
    std::uint64_t gen = 0;
    std::size_t bump = 0; // bytes_held in bump chunks when it was taken
    FrameState frame;
};

// One of our blocks, freed, whose memory only a reuse of the same class in the same frame may
// hand out again: [start, end) -> this.
struct Freed {
    std::uintptr_t end = 0;
    std::uint64_t gen = 0;
    std::size_t cls = 0; // 0: a large block waiting for a rewind; no allocation may reuse it
};

struct HeapModel {
    std::unique_ptr<px::Heap> heap;
    std::unique_ptr<px::DeallocList> list;
    px::HeapOptions options;
    std::size_t limit = 0;
    std::size_t ceiling = 0; // bytes_held may not exceed max(limit, ceiling): see check_stats
    std::size_t in_use = 0;
    std::size_t held = 0;
    std::size_t outside = 0; // of held: large blocks (live or waiting for a rewind)
    std::size_t high_water = 0;
    std::uint64_t allocations = 0, frees = 0, failed = 0, snapshots = 0, rewinds = 0;
    std::vector<std::uint32_t> live;
    std::vector<Entry> entries; // oldest first
    FrameState base;
    std::vector<Snap> open; // outermost first
    std::vector<px::Snapshot> closed;
    std::uint64_t next_gen = 0;
    std::size_t tracked = 0;
    std::map<std::uintptr_t, Freed> freed;

    std::uint64_t innermost() const { return open.empty() ? 0 : open.back().gen; }
    FrameState& top() { return open.empty() ? base : open.back().frame; }
    bool malloc_mode() const { return options.malloc_per_allocation; }
    bool fits(std::size_t more) const { return limit == 0 || held + more <= limit; }
    void peak() { high_water = std::max(high_water, held); }
};

// What an allocation must do.
enum class Expect { succeed, fail, either };

enum class Op : std::uint8_t {
    alloc,
    free,
    realloc,
    snapshot,
    rewind,
    track,
    untrack,
    set_limit,
    add_cleanup,
    cancel_cleanup,
    trim,
    invalid,
    null,
    churn,
    spot_check,
};

struct OpWeight {
    Op op;
    int weight;
    const char* name;
};

// The operation byte's bits 1-7 index a table of 128 entries filled in this order; keep
// fuzz/make_seeds.py's OPS list identical.
constexpr OpWeight kOpWeights[] = {
    {Op::alloc, 38, "alloc"},
    {Op::free, 16, "free"},
    {Op::realloc, 10, "realloc"},
    {Op::snapshot, 12, "snapshot"},
    {Op::rewind, 12, "rewind"},
    {Op::track, 8, "track"},
    {Op::untrack, 4, "untrack"},
    {Op::set_limit, 4, "set_limit"},
    {Op::add_cleanup, 8, "add_cleanup"},
    {Op::cancel_cleanup, 4, "cancel_cleanup"},
    {Op::trim, 2, "trim"},
    {Op::invalid, 4, "invalid request"},
    {Op::null, 2, "null pointer"},
    {Op::churn, 2, "churn"},
    {Op::spot_check, 2, "spot check"},
};

constexpr std::array<const OpWeight*, 128> kOpTable = [] {
    std::array<const OpWeight*, 128> table{};
    std::size_t i = 0;
    for (const OpWeight& w : kOpWeights)
        for (int j = 0; j < w.weight; ++j)
            table[i++] = &w;
    return table;
}();
static_assert([] {
    int sum = 0;
    for (const OpWeight& w : kOpWeights)
        sum += w.weight;
    return sum == 128;
}());

bool same_stats(const px::HeapStats& a, const px::HeapStats& b) {
    return a.bytes_in_use == b.bytes_in_use && a.bytes_held == b.bytes_held &&
           a.high_water == b.high_water && a.chunk_bytes == b.chunk_bytes &&
           a.cached_bytes == b.cached_bytes && a.chunks == b.chunks &&
           a.allocations == b.allocations && a.frees == b.frees && a.failed == b.failed &&
           a.snapshots == b.snapshots && a.rewinds == b.rewinds && a.depth == b.depth;
}

class Fuzz;
Fuzz* g_fuzz = nullptr;
void on_cleanup(void* arg);
void on_dealloc(void* object);

// Byte 0 of the input.
struct Config {
    explicit Config(std::uint8_t b) : bits(b) {}
    std::uint8_t bits;
    // bits 0-1: 0 plain heaps, 1 heap 1 poisons rewound pages, 2 heap 0 mallocs every block,
    // 3 both do; bit 7: heap 0 poisons rewound pages
    bool malloc_mode(int h) const {
        const unsigned m = bits & 3u;
        return m == 3 || (m == 2 && h == 0);
    }
    bool poison(int h) const {
        return ((bits & 3u) == 1 && h == 1) || ((bits & 0x80u) != 0 && h == 0);
    }
    // bits 2-3: HeapOptions::cache_bytes
    std::size_t cache_bytes() const {
        constexpr std::size_t kChoices[] = {8u << 20, 0, 64u << 10, 256u << 10};
        return kChoices[(bits >> 2) & 3u];
    }
    // bits 4-5: heap 0's initial limit (heap 1 starts without one)
    std::size_t limit(int h) const {
        constexpr std::size_t kChoices[] = {0, 4u << 10, 64u << 10, 1u << 20};
        return h == 0 ? kChoices[(bits >> 4) & 3u] : 0;
    }
    // bit 6: destroy each DeallocList before its heap (cancelling what it tracks) rather than
    // after (the heap's destructor runs the callbacks)
    bool list_first() const { return (bits & 0x40u) != 0; }
};

// A heap running callbacks.
struct Active {
    int heap = 0;
    bool destroying = false;   // in its destructor rather than a rewind
    std::uint64_t gen = 0;     // rewinding to the snapshot of this model frame
    bool first = true;         // no callback has run yet
    std::size_t ran_bytes = 0; // bookkeeping of the callbacks that ran, released by the rewind
};

class Fuzz {
public:
    Fuzz(const std::uint8_t* data, std::size_t size)
        : config_(size ? data[0] : 0), in_(size ? data + 1 : data, size ? size - 1 : 0) {
        for (int h = 0; h < 2; ++h) {
            HeapModel& m = heaps_[h];
            m.options.limit = config_.limit(h);
            m.options.cache_bytes = config_.cache_bytes();
            m.options.poison_rewound = config_.poison(h);
            m.options.malloc_per_allocation = config_.malloc_mode(h);
            m.heap = std::make_unique<px::Heap>(m.options);
            m.list = std::make_unique<px::DeallocList>(*m.heap);
            m.limit = m.options.limit;
            m.ceiling = m.limit;
            CHECK(m.heap->limit() == m.limit, "limit() %zu after HeapOptions::limit %zu",
                  m.heap->limit(), m.limit);
            CHECK(&m.list->heap() == m.heap.get(), "DeallocList::heap()");
        }
        CHECK(heaps_[0].heap->id() != heaps_[1].heap->id() &&
                  heaps_[0].heap->id() != globals().dead.heap_id,
              "heap ids %llu, %llu, %llu", ull(heaps_[0].heap->id()), ull(heaps_[1].heap->id()),
              ull(globals().dead.heap_id));
    }

    void run() {
        for (int op = 0; op < kMaxOps && in_.remaining_bytes() > 0; ++op) {
            g_where.op = op;
            const std::uint8_t b = in_.ConsumeIntegral<std::uint8_t>();
            const int h = b & 1;
            const OpWeight& w = *kOpTable[b >> 1];
            g_where.what = w.name;
            dispatch(w.op, h);
            if (g_trace)
                trace(op, w.name, h);
            check_stats(0);
            check_stats(1);
            if ((op + 1) % kSweepEvery == 0)
                sweep();
        }
        g_where.what = "final sweep";
        sweep();
        g_where.what = "teardown";
        teardown();
    }

    void cleanup_ran(std::uintptr_t arg);
    void dealloc_ran(void* object);

private:
    // PX_FUZZ_TRACE=1: one line per operation, for reading what a crashing input does.
    void trace(int op, const char* name, int h) const {
        std::fprintf(stderr, "op %d: %s on heap %d ->", op, name, h);
        for (const HeapModel& m : heaps_)
            std::fprintf(stderr,
                         " [live %zu, in use %zu, held %zu, limit %zu, depth %zu, cleanups %zu]",
                         m.live.size(), m.in_use, m.held, m.limit, m.open.size(), m.entries.size());
        std::fputc('\n', stderr);
    }

    // ---- input ----
    std::uint8_t u8() { return in_.ConsumeIntegral<std::uint8_t>(); }
    std::uint16_t u16() { return in_.ConsumeIntegral<std::uint16_t>(); }

    // A block size from a selector byte (low 3 bits) and a value; biased small, never above
    // kMaxSize, and small once the input has asked for kSizeBudget bytes.
    std::size_t size_from(std::uint8_t k, std::uint16_t v) {
        static constexpr std::size_t kEdges[16] = {0,     1,     15,   16,      17,    1023,
                                                   1024,  1025,  1280, 1281,    32767, 32768,
                                                   32769, 65536, 4096, kMaxSize};
        std::size_t n = 0;
        switch (k & 7u) {
        case 0:
            n = v % 17;
            break;
        case 1:
            n = v % 65;
            break;
        case 2:
            n = v % 257;
            break;
        case 3:
            n = kEdges[v % 16];
            break;
        case 4:
            n = v % 1025;
            break;
        case 5:
            n = 1025 + v % 3072;
            break;
        case 6:
            n = 4097 + v % (kMedium + 64 - 4096);
            break;
        default: // large: mostly just above the medium classes, up to ~96 KiB with bit 15
            n = kMedium + 1 + ((v & 0x8000u) != 0 ? (v & 0x7FFFu) * 2u : v & 0x3FFFu);
            break;
        }
        if (n > 1024) {
            if (size_budget_ < n)
                n %= 1025;
            else
                size_budget_ -= n;
        }
        return n;
    }

    // ---- blocks ----
    Block& block(std::uint32_t slot) { return blocks_[slot]; }
    static std::uintptr_t addr(const void* p) { return reinterpret_cast<std::uintptr_t>(p); }
    static std::uintptr_t end_of(const Block& b) {
        return addr(b.p) + std::max<std::size_t>(b.size, 1);
    }

    bool intact(const Block& b, bool full) {
        const unsigned char* want = pattern_of(b.id);
        if (full || b.size <= 128)
            return std::memcmp(b.p, want, b.size) == 0;
        return std::memcmp(b.p, want, 64) == 0 &&
               std::memcmp(b.p + b.size - 64, want + b.size - 64, 64) == 0;
    }

    // Whole-block comparisons while the budget lasts, the first and last 64 bytes after.
    void verify(const Block& b, const char* when) {
        const bool full = verify_budget_ >= b.size;
        if (full)
            verify_budget_ -= b.size;
        CHECK(intact(b, full), "block %llu (%p, %zu bytes, heap %d) corrupted %s", ull(b.id),
              static_cast<void*>(b.p), b.size, b.heap, when);
    }

    void verify_full(const Block& b, const char* when) {
        CHECK(intact(b, true), "block %llu (%p, %zu bytes, heap %d) corrupted %s", ull(b.id),
              static_cast<void*>(b.p), b.size, b.heap, when);
    }

    void check_owner(const Block& b) {
        px::Heap* want = heaps_[b.heap].heap.get();
        CHECK(px::owner_of(b.p) == want, "owner_of(%p) = %p, block of heap %d (%p)",
              static_cast<void*>(b.p), static_cast<void*>(px::owner_of(b.p)), b.heap,
              static_cast<void*>(want));
        CHECK(px::is_context_memory(b.p), "is_context_memory(%p) of a live block",
              static_cast<void*>(b.p));
        CHECK(px::Heap::usable_size(b.p) >= b.size, "usable_size(%p) = %zu < %zu",
              static_cast<void*>(b.p), px::Heap::usable_size(b.p), b.size);
    }

    // Registers a block the heap just returned: checks where it lies, then fills it. `reused`:
    // the heap took it from the innermost frame's free list of its class.
    std::uint32_t add_block(int h, char* p, std::size_t size, std::size_t align, bool reused) {
        HeapModel& m = heaps_[h];
        const std::uintptr_t a = addr(p), e = a + std::max<std::size_t>(size, 1);
        CHECK(a % align == 0, "%p is not %zu-aligned", static_cast<void*>(p), align);
        auto next = by_addr_.lower_bound(a);
        if (next != by_addr_.end()) {
            const Block& n = block(next->second);
            CHECK(next->first >= e, "new block [%p, +%zu) overlaps block %llu at %p (+%zu)",
                  static_cast<void*>(p), size, ull(n.id), static_cast<void*>(n.p), n.size);
        }
        if (next != by_addr_.begin()) {
            const Block& prev = block(std::prev(next)->second);
            CHECK(end_of(prev) <= a, "new block [%p, +%zu) overlaps block %llu at %p (+%zu)",
                  static_cast<void*>(p), size, ull(prev.id), static_cast<void*>(prev.p), prev.size);
        }
        // Freed blocks of ours: only a reuse of the same class from the innermost frame's
        // free list may hand their memory out again.
        auto f = m.freed.upper_bound(a);
        if (f != m.freed.begin() && std::prev(f)->second.end > a)
            --f;
        if (f != m.freed.end() && f->first < e) {
            const Freed& old = f->second;
            CHECK(reused && f->first == a && old.gen == m.innermost() && old.cls == class_of(size),
                  "new block [%p, +%zu) takes the memory of a freed block [%p, %p) of model "
                  "frame %llu (class %zu) while frame %llu is innermost%s",
                  static_cast<void*>(p), size, reinterpret_cast<void*>(f->first),
                  reinterpret_cast<void*>(old.end), ull(old.gen), old.cls, ull(m.innermost()),
                  reused ? "" : " (bump allocation)");
            m.freed.erase(f);
        }
        std::uint32_t slot = 0;
        if (!free_slots_.empty()) {
            slot = free_slots_.back();
            free_slots_.pop_back();
        } else {
            slot = static_cast<std::uint32_t>(blocks_.size());
            blocks_.emplace_back();
        }
        Block& b = blocks_[slot];
        b = Block{p,
                  size,
                  align,
                  next_id_++,
                  m.innermost(),
                  h,
                  false,
                  static_cast<std::uint32_t>(m.live.size())};
        m.live.push_back(slot);
        by_addr_.emplace(a, slot);
        check_owner(b);
        std::memcpy(p, pattern_of(b.id), size);
        return slot;
    }

    void remove_block(std::uint32_t slot) {
        Block& b = block(slot);
        HeapModel& m = heaps_[b.heap];
        by_addr_.erase(addr(b.p));
        const std::uint32_t last = m.live.back();
        m.live[b.pos] = last;
        block(last).pos = b.pos;
        m.live.pop_back();
        free_slots_.push_back(slot);
    }

    std::uint32_t pick(const std::vector<std::uint32_t>& v, std::uint16_t r) const {
        return v[r % v.size()];
    }

    // ---- what allocating and freeing does to bytes_held (heap.h) ----
    // Small and medium blocks come from the innermost frame's free list of their class when it
    // has one (for 16-byte alignment; that holds nothing more) or else from the bump chunk;
    // large ones get a chunk; in malloc_per_allocation mode every block is malloc'd and counts
    // only while it lives.
    struct Plan {
        Expect expect = Expect::succeed;
        bool reuse = false;      // from the innermost frame's free list
        std::size_t padding = 0; // most alignment padding the heap may add
    };

    Plan plan(HeapModel& m, std::size_t gross, std::size_t cls, std::size_t align) {
        Plan p;
        if (!m.malloc_mode() && cls != 0 && align <= 16 && m.top().reusable[cls] > 0) {
            p.reuse = true;
            return p;
        }
        if (!m.malloc_mode() && cls != 0 && align > 16)
            p.padding = align - 16;
        if (!m.fits(gross))
            p.expect = Expect::fail;
        else if (!m.fits(gross + p.padding))
            p.expect = Expect::either;
        return p;
    }

    // Applies a planned allocation that succeeded.
    void took(HeapModel& m, const Plan& p, std::size_t gross, std::size_t cls) {
        ++m.allocations;
        m.in_use += gross;
        if (p.reuse) {
            --m.top().reusable[cls];
            return;
        }
        if (p.padding != 0) {
            const std::size_t now = m.heap->stats().bytes_held;
            CHECK(now >= m.held + gross && now - m.held - gross <= p.padding &&
                      (now - m.held - gross) % 16 == 0,
                  "an aligned block of %zu gross bytes took bytes_held %zu -> %zu (padding at "
                  "most %zu)",
                  gross, m.held, now, p.padding);
            m.held = now;
        } else {
            m.held += gross;
            if (cls == 0 && !m.malloc_mode())
                m.outside += gross;
        }
        m.peak();
    }

    // A freed block of `gen`: reusable at once in its own frame, else when a rewind makes its
    // frame innermost again. A large block's chunk goes at once in its own frame.
    void gave_back(HeapModel& m, std::uint64_t gen, std::size_t cls, std::size_t gross,
                   std::uintptr_t a, std::uintptr_t e) {
        if (m.malloc_mode()) {
            m.held -= gross;
            return;
        }
        if (gen == m.innermost()) {
            if (cls == 0) {
                m.held -= gross;
                m.outside -= gross;
                return;
            }
            ++m.top().reusable[cls];
        } else {
            m.top().pending.push_back(Pending{gen, cls, gross, a});
        }
        if (a != 0)
            m.freed[a] = Freed{e, gen, cls};
    }

    // The heap's own records, which are never large.
    bool book_alloc(HeapModel& m, std::size_t gross) {
        const Plan p = plan(m, gross, gross - kHeader, 16);
        if (p.expect == Expect::fail)
            return false;
        took(m, p, gross, gross - kHeader);
        return true;
    }

    void book_free(HeapModel& m, std::uint64_t gen, std::size_t gross) {
        ++m.frees;
        m.in_use -= gross;
        gave_back(m, gen, gross - kHeader, gross, 0, 0);
    }

    // ---- operations ----
    void dispatch(Op op, int h) {
        switch (op) {
        case Op::alloc: {
            const std::uint8_t k = u8();
            const std::uint16_t v = u16();
            if (heaps_[h].live.size() >= kMaxLive) {
                free_some(h, v);
                return;
            }
            const std::size_t size = size_from(k, v);
            const unsigned a = k >> 3u; // 0..31
            if (a < 14)
                do_alloc(h, size, 0);
            else if (a < 31)
                do_alloc(h, size, std::size_t{1} << (a - 14)); // 1 .. 64 KiB
            else
                do_alloc(h, size, 16);
            return;
        }
        case Op::free:
            free_some(h, u16());
            return;
        case Op::realloc:
            do_realloc(h);
            return;
        case Op::snapshot:
            do_snapshot(h);
            return;
        case Op::rewind:
            do_rewind_op(h);
            return;
        case Op::track:
            do_track(h);
            return;
        case Op::untrack:
            do_untrack(h);
            return;
        case Op::set_limit:
            do_set_limit(h);
            return;
        case Op::add_cleanup:
            do_add_cleanup(h);
            return;
        case Op::cancel_cleanup:
            do_cancel_cleanup(h);
            return;
        case Op::trim:
            do_trim(h);
            return;
        case Op::invalid:
            do_invalid(h);
            return;
        case Op::null:
            do_null(h);
            return;
        case Op::churn:
            do_churn(h);
            return;
        case Op::spot_check:
            spot_check(h, u16());
            return;
        }
    }

    // alignment 0: alloc() (and realloc(nullptr, n), which is the same); otherwise
    // alloc_aligned(size, alignment). The new block's slot, or -1 if the heap refused, as the
    // model allowed.
    long do_alloc(int h, std::size_t size, std::size_t alignment, bool via_realloc = false) {
        HeapModel& m = heaps_[h];
        const std::size_t gross = model_gross(size), cls = class_of(size);
        const std::size_t align = alignment == 0 ? 16 : alignment;
        const Plan p = plan(m, gross, cls, align);
        void* q = via_realloc      ? m.heap->realloc(nullptr, size)
                  : alignment == 0 ? m.heap->alloc(size)
                                   : m.heap->alloc_aligned(size, alignment);
        if (q == nullptr) {
            CHECK(p.expect != Expect::succeed,
                  "alloc(%zu, alignment %zu) failed: %zu gross bytes, %zu held, limit %zu%s", size,
                  alignment, gross, m.held, m.limit,
                  p.reuse ? ", with a freed block of its class in the innermost frame" : "");
            ++m.failed;
            return -1;
        }
        CHECK(p.expect != Expect::fail,
              "alloc(%zu) of %zu gross bytes succeeded with %zu held and a limit of %zu", size,
              gross, m.held, m.limit);
        took(m, p, gross, cls);
        return add_block(h, static_cast<char*>(q), size, align, p.reuse);
    }

    void untrack_block(std::uint32_t slot) {
        Block& b = block(slot);
        HeapModel& m = heaps_[b.heap];
        CHECK(m.list->is_tracked(b.p), "block %llu should be tracked", ull(b.id));
        CHECK(m.list->untrack(b.p), "untrack of tracked block %llu", ull(b.id));
        auto it = std::find_if(m.entries.begin(), m.entries.end(), [&](const Entry& e) {
            return e.kind == kDealloc && e.slot == slot;
        });
        CHECK(it != m.entries.end(), "model: no record for tracked block %llu", ull(b.id));
        const std::uint64_t gen = it->gen;
        m.entries.erase(it);
        book_free(m, gen, globals().book.cleanup);
        book_free(m, gen, globals().book.record);
        b.tracked = false;
        --m.tracked;
        CHECK(!m.list->is_tracked(b.p), "block %llu still tracked after untrack", ull(b.id));
    }

    void do_free(std::uint32_t slot) {
        Block& b = block(slot);
        HeapModel& m = heaps_[b.heap];
        verify_full(b, "before free");
        if (b.tracked)
            untrack_block(slot); // the object dies normally
        m.heap->free(b.p);
        ++m.frees;
        const std::size_t gross = model_gross(b.size);
        m.in_use -= gross;
        gave_back(m, b.gen, class_of(b.size), gross, addr(b.p), end_of(b));
        remove_block(slot);
    }

    void free_some(int h, std::uint16_t r) {
        if (!heaps_[h].live.empty())
            do_free(pick(heaps_[h].live, r));
    }

    void do_realloc(int h) {
        HeapModel& m = heaps_[h];
        const std::uint8_t flags = u8();
        const std::uint16_t r = u16();
        const std::uint8_t k = u8();
        const std::uint16_t v = u16();
        if (m.live.empty() || (flags & 15u) == 0) {
            realloc_null(h, k, v);
            return;
        }
        const std::uint32_t slot = pick(m.live, r);
        const std::size_t size = size_from(k, v);
        if (block(slot).tracked)
            untrack_block(slot);
        const Block old = block(slot);
        verify_full(old, "before realloc");
        const std::size_t gross_old = model_gross(old.size), gross_new = model_gross(size);
        // Moving is alloc(size), copy, free(old).
        const Plan p = plan(m, gross_new, class_of(size), 16);
        char* q = static_cast<char*>(m.heap->realloc(old.p, size));
        if (q == nullptr) {
            CHECK(p.expect != Expect::succeed,
                  "realloc(%p, %zu -> %zu) failed with %zu held, limit %zu",
                  static_cast<void*>(old.p), old.size, size, m.held, m.limit);
            ++m.failed;
            verify_full(old, "after a failed realloc");
            return;
        }
        const std::size_t keep = std::min(old.size, size);
        CHECK(std::memcmp(q, pattern_of(old.id), keep) == 0,
              "realloc(%p, %zu -> %zu) = %p lost the first %zu bytes", static_cast<void*>(old.p),
              old.size, size, static_cast<void*>(q), keep);
        remove_block(slot);
        if (q == old.p) {
            // In place: the block keeps its frame, alignment and size class.
            CHECK(gross_new == gross_old && !m.malloc_mode(),
                  "realloc resized %p in place from %zu to %zu gross bytes", static_cast<void*>(q),
                  gross_old, gross_new);
            const std::uint32_t s = add_block(h, q, size, old.align, false);
            block(s).gen = old.gen;
            return;
        }
        CHECK(p.expect != Expect::fail,
              "realloc moved a block past the limit: %zu held + %zu > %zu", m.held, gross_new,
              m.limit);
        CHECK(end_of(Block{q, size}) <= addr(old.p) || end_of(old) <= addr(q),
              "realloc moved %p to an overlapping %p", static_cast<void*>(old.p),
              static_cast<void*>(q));
        took(m, p, gross_new, class_of(size)); // the new block exists before the old one goes
        ++m.frees;
        m.in_use -= gross_old;
        gave_back(m, old.gen, class_of(old.size), gross_old, addr(old.p), end_of(old));
        add_block(h, q, size, 16, p.reuse);
    }

    // realloc(nullptr, n) == alloc(n)
    void realloc_null(int h, std::uint8_t k, std::uint16_t v) {
        if (heaps_[h].live.size() < kMaxLive)
            do_alloc(h, size_from(k, v), 0, true);
    }

    void do_snapshot(int h) {
        HeapModel& m = heaps_[h];
        if (m.open.size() >= kMaxDepth)
            return;
        const px::Snapshot s = m.heap->snapshot();
        CHECK(s.heap_id == m.heap->id(), "snapshot names heap %llu, not %llu", ull(s.heap_id),
              ull(m.heap->id()));
        ++m.snapshots;
        m.open.push_back(Snap{s, ++m.next_gen, m.held - m.outside, FrameState{}});
    }

    void forget_closed(HeapModel& m, const px::Snapshot& s) {
        if (m.closed.size() >= kMaxClosed)
            m.closed.erase(m.closed.begin());
        m.closed.push_back(s);
    }

    // A snapshot from anywhere but the open stack of heap h, with the status rewinding h to it
    // must give. choice: 0 stale, 1 the other heap's, 2 never taken, 3 of a dead heap.
    std::pair<px::Snapshot, RewindStatus> misuse_snapshot(int h, unsigned choice,
                                                          std::uint8_t r) const {
        const HeapModel& m = heaps_[h];
        const HeapModel& o = heaps_[1 - h];
        switch (choice % 4) {
        case 0:
            if (!m.closed.empty())
                return {m.closed[r % m.closed.size()], RewindStatus::stale};
            break;
        case 1:
            if (!o.open.empty() && (r & 1u) != 0)
                return {o.open[r % o.open.size()].snap, RewindStatus::foreign};
            if (!o.closed.empty())
                return {o.closed[r % o.closed.size()], RewindStatus::foreign};
            break;
        case 3:
            return {globals().dead, RewindStatus::foreign};
        default:
            break;
        }
        return {px::Snapshot{}, RewindStatus::never_taken};
    }

    void do_rewind_op(int h) {
        HeapModel& m = heaps_[h];
        const std::uint8_t choice = u8();
        const std::uint8_t r = u8();
        if (choice % 8 < 4 && !m.open.empty()) {
            // Mostly the innermost snapshot, sometimes one further out.
            const std::size_t back = (choice & 2u) != 0 ? r % m.open.size() : 0;
            do_rewind(h, m.open.size() - 1 - back);
            return;
        }
        const auto [snap, want] = misuse_snapshot(h, choice % 4u, r);
        const px::HeapStats before = m.heap->stats();
        const RewindStatus got = m.heap->rewind(snap);
        CHECK(got == want,
              "rewind to a snapshot {heap %llu, depth %u} of heap %llu: got %d (%s), want %d (%s)",
              ull(snap.heap_id), snap.depth, ull(m.heap->id()), static_cast<int>(got),
              px::describe(got), static_cast<int>(want), px::describe(want));
        const char* text = px::describe(got);
        CHECK(text != nullptr && text[0] != '\0', "describe(%d)", static_cast<int>(got));
        CHECK(same_stats(before, m.heap->stats()), "a refused rewind changed the heap's stats");
    }

    void do_rewind(int h, std::size_t idx) {
        HeapModel& m = heaps_[h];
        const std::uint64_t gen = m.open[idx].gen;
        const std::uint64_t below = idx == 0 ? 0 : m.open[idx - 1].gen;
        active_.push_back(Active{h, false, gen, true, 0});
        // A copy: the callbacks may take snapshots, which moves m.open.
        const px::Snapshot snap = m.open[idx].snap;
        const RewindStatus st = m.heap->rewind(snap);
        const std::size_t ran_bytes = active_.back().ran_bytes;
        active_.pop_back();
        CHECK(st == RewindStatus::ok, "rewind to open snapshot %zu of %zu: %s", idx, m.open.size(),
              px::describe(st));
        CHECK(px::describe(st)[0] != '\0', "describe(ok) is empty");
        for (const Entry& e : m.entries)
            CHECK(e.gen < gen, "cleanup %llu (kind %d) registered after the snapshot did not run",
                  ull(e.seq), e.kind);
        // Everything allocated since the snapshot is gone; blocks allocated before it and freed
        // since stay freed.
        for (std::size_t i = m.live.size(); i-- > 0;) {
            const std::uint32_t slot = m.live[i];
            const Block& b = block(slot);
            if (b.gen < gen)
                continue;
            CHECK(!b.tracked, "model: block %llu released while still tracked", ull(b.id));
            const std::size_t gross = model_gross(b.size);
            m.in_use -= gross;
            if (m.malloc_mode())
                m.held -= gross;
            else if (b.size > kMedium)
                m.outside -= gross;
            remove_block(slot);
        }
        m.in_use -= ran_bytes;
        if (m.malloc_mode())
            m.held -= ran_bytes;
        // Freed blocks of older frames come back: reusable if their frame is innermost again
        // (a large one's chunk goes), still waiting otherwise.
        std::vector<Pending> carried;
        for (std::size_t i = idx; i < m.open.size(); ++i) {
            for (const Pending& p : m.open[i].frame.pending) {
                if (p.gen < gen)
                    carried.push_back(p);
                else if (p.cls == 0)
                    m.outside -= p.gross;
            }
            forget_closed(m, m.open[i].snap);
        }
        const std::size_t bump = m.open[idx].bump;
        m.open.resize(idx);
        for (auto it = m.freed.begin(); it != m.freed.end();)
            it = it->second.gen >= gen ? m.freed.erase(it) : std::next(it);
        FrameState& top = m.top();
        for (const Pending& p : carried) {
            if (p.gen != below) {
                top.pending.push_back(p);
            } else if (p.cls == 0) {
                m.outside -= p.gross;
                m.freed.erase(p.addr);
            } else {
                ++top.reusable[p.cls];
            }
        }
        if (!m.malloc_mode())
            m.held = bump + m.outside;
        ++m.rewinds;
        check_stats(h);
        // The survivors, while the per-input budget lasts (the next sweep sees them anyway).
        for (const std::uint32_t slot : m.live) {
            if (check_budget_ == 0)
                break;
            --check_budget_;
            verify(block(slot), "by a rewind");
            check_owner(block(slot));
        }
    }

    // Blocks of heap h that are not tracked, or that are.
    std::vector<std::uint32_t> blocks_of(int h, bool tracked) const {
        std::vector<std::uint32_t> out;
        for (const std::uint32_t slot : heaps_[h].live)
            if (blocks_[slot].tracked == tracked)
                out.push_back(slot);
        return out;
    }

    void do_track(int h) {
        HeapModel& m = heaps_[h];
        const std::uint16_t r = u16();
        const std::uint8_t mode = u8();
        if ((mode & 7u) == 0) {
            const std::vector<std::uint32_t> tracked = blocks_of(h, true);
            if (tracked.empty())
                return;
            const px::HeapStats before = m.heap->stats();
            const px::TrackStatus st = m.list->track(block(pick(tracked, r)).p, on_dealloc);
            CHECK(st == px::TrackStatus::already_tracked, "tracking twice gave %d",
                  static_cast<int>(st));
            CHECK(same_stats(before, m.heap->stats()), "tracking twice changed the heap");
            return;
        }
        const std::vector<std::uint32_t> untracked = blocks_of(h, false);
        if (untracked.empty() || m.entries.size() >= kMaxEntries)
            return;
        const std::uint32_t slot = pick(untracked, r);
        Block& b = block(slot);
        const Bookkeeping& book = globals().book;
        const std::size_t held = m.held;
        const px::TrackStatus st = m.list->track(b.p, on_dealloc);
        // The record, then its cleanup; if the cleanup is refused the record goes back.
        bool ok = book_alloc(m, book.record);
        if (!ok) {
            ++m.failed;
        } else if (!book_alloc(m, book.cleanup)) {
            ok = false;
            ++m.failed;
            book_free(m, m.innermost(), book.record);
        }
        if (!ok) {
            CHECK(st == px::TrackStatus::out_of_memory,
                  "track with %zu held, limit %zu gave %d, not out_of_memory", held, m.limit,
                  static_cast<int>(st));
            CHECK(!m.list->is_tracked(b.p), "a refused track left the object tracked");
            return;
        }
        CHECK(st == px::TrackStatus::ok, "track with %zu held, limit %zu gave %d", held, m.limit,
              static_cast<int>(st));
        CHECK(m.list->is_tracked(b.p), "a tracked object is not is_tracked()");
        m.entries.push_back(Entry{next_seq_++, m.innermost(), nullptr, slot, kDealloc, 0});
        b.tracked = true;
        ++m.tracked;
    }

    void do_untrack(int h) {
        HeapModel& m = heaps_[h];
        const std::uint16_t r = u16();
        const std::uint8_t mode = u8();
        const bool want_tracked = (mode & 3u) != 0;
        const std::vector<std::uint32_t> candidates = blocks_of(h, want_tracked);
        if (candidates.empty())
            return;
        const std::uint32_t slot = pick(candidates, r);
        if (want_tracked) {
            untrack_block(slot);
            return;
        }
        const px::HeapStats before = m.heap->stats();
        CHECK(!m.list->untrack(block(slot).p), "untrack of an object that is not tracked");
        CHECK(same_stats(before, m.heap->stats()), "a no-op untrack changed the heap");
    }

    void do_set_limit(int h) {
        HeapModel& m = heaps_[h];
        const std::uint8_t mode = u8();
        const std::uint16_t v = u16();
        std::size_t limit = 0;
        switch (mode % 6) {
        case 0:
            limit = 0; // no limit
            break;
        case 1:
            limit = m.held; // full: only reuse of freed blocks succeeds
            break;
        case 2:
            limit = m.held + v;
            break;
        case 3:
            limit = m.held / 2 + 1; // below what the heap holds
            break;
        case 4:
            limit = std::size_t{v} * 16 + 1;
            break;
        default:
            limit = m.held + model_gross(v % 2048); // room for exactly one such block
            break;
        }
        m.heap->set_limit(limit);
        CHECK(m.heap->limit() == limit, "limit() = %zu after set_limit(%zu)", m.heap->limit(),
              limit);
        m.limit = limit;
        m.ceiling = std::max(limit, m.held);
    }

    void do_add_cleanup(int h) {
        HeapModel& m = heaps_[h];
        const auto kind = static_cast<std::uint8_t>(u8() % kPlainKinds);
        const std::uint8_t param = u8();
        if (m.entries.size() >= kMaxEntries)
            return;
        const std::uint64_t seq = next_seq_++;
        const std::size_t held = m.held;
        px::Cleanup* handle =
            m.heap->add_cleanup(on_cleanup, reinterpret_cast<void*>(seq << 1 | std::uint64_t(h)));
        if (!book_alloc(m, globals().book.cleanup)) {
            CHECK(handle == nullptr, "add_cleanup succeeded with %zu held, limit %zu", held,
                  m.limit);
            ++m.failed;
            return;
        }
        CHECK(handle != nullptr, "add_cleanup failed with %zu held, limit %zu", held, m.limit);
        m.entries.push_back(Entry{seq, m.innermost(), handle, 0, kind, param});
    }

    // Indices in heap h's entries of the plain cleanups (or the tracked records).
    std::vector<std::uint32_t> entries_of(int h, bool plain) const {
        std::vector<std::uint32_t> out;
        const std::vector<Entry>& entries = heaps_[h].entries;
        for (std::size_t i = 0; i < entries.size(); ++i)
            if ((entries[i].kind != kDealloc) == plain)
                out.push_back(static_cast<std::uint32_t>(i));
        return out;
    }

    void cancel_entry(int h, std::uint32_t index) {
        HeapModel& m = heaps_[h];
        const Entry e = m.entries[index];
        m.entries.erase(m.entries.begin() + index);
        m.heap->cancel_cleanup(e.handle);
        book_free(m, e.gen, globals().book.cleanup);
    }

    void do_cancel_cleanup(int h) {
        const std::uint16_t r = u16();
        const std::vector<std::uint32_t> plain = entries_of(h, true);
        if (!plain.empty())
            cancel_entry(h, pick(plain, r));
    }

    void do_trim(int h) {
        HeapModel& m = heaps_[h];
        const std::uint8_t mode = u8();
        const std::uint16_t v = u16();
        std::size_t keep = 0;
        switch (mode % 3) {
        case 0:
            keep = 0;
            break;
        case 1:
            keep = 64u << 10;
            break;
        default:
            keep = std::size_t{v} * 1024;
            break;
        }
        const px::HeapStats before = m.heap->stats();
        m.heap->trim(keep);
        const px::HeapStats s = m.heap->stats();
        CHECK(s.cached_bytes <= keep, "trim(%zu) kept %zu cached bytes", keep, s.cached_bytes);
        CHECK(s.cached_bytes <= before.cached_bytes, "trim grew the cache");
        CHECK(s.chunk_bytes == before.chunk_bytes && s.chunks == before.chunks,
              "trim changed the chunks holding blocks (%zu -> %zu bytes)", before.chunk_bytes,
              s.chunk_bytes);
        for (const std::uint32_t slot : m.live)
            check_owner(block(slot));
    }

    // Requests the heap must refuse whatever the limit, and leave as they found it.
    void do_invalid(int h) {
        HeapModel& m = heaps_[h];
        const std::uint8_t which = u8();
        const std::uint16_t r = u16();
        constexpr std::size_t kHuge = SIZE_MAX;
        void* p = nullptr;
        std::size_t alignment = 0;
        switch (which % 8) {
        case 0:
            p = m.heap->alloc(kHuge);
            break;
        case 1:
            p = m.heap->alloc((SIZE_MAX >> 2) + 1);
            break;
        case 2:
            alignment = 48; // not a power of two
            break;
        case 3:
            alignment = std::size_t{128} << 10; // above 64 KiB
            break;
        case 4:
            alignment = 3; // not a power of two, below 16
            break;
        case 5:
            alignment = 24;
            break;
        case 6:
            alignment = 0; // not a power of two either
            break;
        default:
            if (m.live.empty()) {
                p = m.heap->alloc(kHuge - 8);
            } else {
                const Block& b = block(pick(m.live, r));
                p = m.heap->realloc(b.p, kHuge - 8);
                if (p == nullptr)
                    verify_full(b, "after a refused realloc");
            }
            break;
        }
        if (which % 8 >= 2 && which % 8 <= 6)
            p = m.heap->alloc_aligned(64, alignment);
        CHECK(p == nullptr, "invalid request %d (alignment %zu) succeeded", which % 8, alignment);
        ++m.failed;
    }

    void do_null(int h) {
        HeapModel& m = heaps_[h];
        const std::uint8_t which = u8();
        if ((which & 1u) == 0) {
            const px::HeapStats before = m.heap->stats();
            m.heap->free(nullptr);
            CHECK(same_stats(before, m.heap->stats()), "free(nullptr) changed the heap");
            return;
        }
        const std::uint8_t k = u8();
        const std::uint16_t v = u16();
        realloc_null(h, k, v);
    }

    // heap.h: "a callback that allocates and frees in a loop stays small".
    void do_churn(int h) {
        HeapModel& m = heaps_[h];
        const std::uint8_t k = u8();
        const std::uint16_t v = u16();
        if (m.live.size() >= kMaxLive)
            return;
        const std::size_t size = size_from(k, v);
        std::size_t chunk_bytes = 0;
        for (int i = 0; i < 6; ++i) {
            const long slot = do_alloc(h, size, 0);
            if (slot < 0)
                return; // refused at the limit, as the model allowed
            const std::size_t now = m.heap->stats().chunk_bytes;
            if (i == 0)
                chunk_bytes = now;
            CHECK(now == chunk_bytes,
                  "alloc/free of %zu bytes in a loop grew the chunks: %zu -> %zu bytes", size,
                  chunk_bytes, now);
            do_free(static_cast<std::uint32_t>(slot));
        }
    }

    // ---- whole-model checks ----
    void check_stats(int h) {
        HeapModel& m = heaps_[h];
        if (!m.heap)
            return;
        const px::HeapStats s = m.heap->stats();
        CHECK(s.bytes_in_use == m.in_use && s.bytes_held == m.held,
              "heap %d: bytes_in_use %zu, bytes_held %zu; model %zu, %zu", h, s.bytes_in_use,
              s.bytes_held, m.in_use, m.held);
        CHECK(s.high_water == m.high_water, "heap %d: high_water %zu, model %zu", h, s.high_water,
              m.high_water);
        CHECK(s.allocations == m.allocations && s.frees == m.frees && s.failed == m.failed,
              "heap %d: allocations/frees/failed %llu/%llu/%llu, model %llu/%llu/%llu", h,
              ull(s.allocations), ull(s.frees), ull(s.failed), ull(m.allocations), ull(m.frees),
              ull(m.failed));
        CHECK(s.snapshots == m.snapshots && s.rewinds == m.rewinds,
              "heap %d: snapshots/rewinds %llu/%llu, model %llu/%llu", h, ull(s.snapshots),
              ull(s.rewinds), ull(m.snapshots), ull(m.rewinds));
        CHECK(s.depth == m.open.size() && m.heap->depth() == s.depth,
              "heap %d: depth %u (stats %u), model %zu", h, m.heap->depth(), s.depth,
              m.open.size());
        if (!m.malloc_mode())
            CHECK(s.chunk_bytes >= s.bytes_held, "heap %d: %zu bytes held in %zu of chunks", h,
                  s.bytes_held, s.chunk_bytes);
        CHECK((s.chunks == 0) == (s.chunk_bytes == 0), "heap %d: %zu chunks of %zu bytes", h,
              s.chunks, s.chunk_bytes);
        CHECK(s.cached_bytes <= m.options.cache_bytes,
              "heap %d: %zu bytes cached, more than cache_bytes %zu", h, s.cached_bytes,
              m.options.cache_bytes);
        // The limit holds: what the heap holds may exceed it only after the limit was lowered
        // below that, and then never grows until it is back under.
        if (m.limit != 0) {
            CHECK(s.bytes_held <= std::max(m.limit, m.ceiling),
                  "heap %d: %zu bytes held, limit %zu (lowered at %zu)", h, s.bytes_held, m.limit,
                  m.ceiling);
            m.ceiling = std::max(m.limit, std::min(m.ceiling, s.bytes_held));
        }
        CHECK(m.list->size() == m.tracked, "heap %d: %zu objects tracked, model %zu", h,
              m.list->size(), m.tracked);
    }

    // Sixteen blocks of heap h from a chosen place, and ownership as guards sees it from inside
    // a context running on heap h.
    void spot_check(int h, std::uint16_t r) {
        HeapModel& m = heaps_[h];
        int outside = 0;
        const auto local_buffer = std::make_unique<char[]>(32);
        for (const void* p :
             {static_cast<const void*>(&outside), static_cast<const void*>(local_buffer.get())})
            CHECK(px::owner_of(p) == nullptr && !px::is_context_memory(p),
                  "%p (stack or malloc) counted as context memory", p);
        for (const px::Owner o : {px::Owner::main, px::Owner::current_context, px::Owner::session,
                                  px::Owner::other_context})
            CHECK(px::describe(o) != nullptr && px::describe(o)[0] != '\0',
                  "describe(Owner %d) is empty", static_cast<int>(o));
        px::Context ctx;
        ctx.heap = m.heap.get();
        ctx.worker = 2;
        const px::ContextScope scope(ctx);
        for (std::size_t i = 0; i < 16 && i < m.live.size(); ++i) {
            const Block& b = block(m.live[(r + i) % m.live.size()]);
            verify_full(b, "(found by a spot check)");
            check_owner(b);
            CHECK(px::owner(b.p) == px::Owner::current_context, "owner(%p) = %s inside heap %d",
                  static_cast<void*>(b.p), px::describe(px::owner(b.p)), h);
        }
        const HeapModel& o = heaps_[1 - h];
        if (!o.live.empty()) {
            const Block& b = block(o.live[r % o.live.size()]);
            CHECK(px::owner(b.p) == px::Owner::other_context, "owner(%p) = %s, a block of heap %d",
                  static_cast<void*>(b.p), px::describe(px::owner(b.p)), 1 - h);
        }
    }

    void sweep() {
        int outside = 0;
        static const int kStatic = 0;
        const auto local_buffer = std::make_unique<char[]>(32);
        for (const void* p :
             {static_cast<const void*>(&outside), static_cast<const void*>(&kStatic),
              static_cast<const void*>(local_buffer.get())}) {
            CHECK(px::owner_of(p) == nullptr && !px::is_context_memory(p),
                  "%p (stack, static data or malloc) counted as context memory", p);
        }
        std::size_t live = 0;
        for (int h = 0; h < 2; ++h) {
            for (const std::uint32_t slot : heaps_[h].live) {
                const Block& b = block(slot);
                CHECK(b.heap == h && by_addr_.count(addr(b.p)) == 1, "model: block %llu",
                      ull(b.id));
                verify(b, "(found by a sweep)");
                check_owner(b);
            }
            live += heaps_[h].live.size();
        }
        CHECK(by_addr_.size() == live, "model: %zu addresses for %zu blocks", by_addr_.size(),
              live);
        // guards: ownership as seen from inside a context running on heap 0.
        CHECK(!px::in_parallel_context(), "in a parallel context before entering one");
        px::Context ctx;
        ctx.heap = heaps_[0].heap.get();
        ctx.worker = 1;
        {
            const px::ContextScope scope(ctx);
            CHECK(px::in_parallel_context() && px::current_context() == &ctx,
                  "ContextScope did not enter the context");
            for (int h = 0; h < 2; ++h)
                for (const std::uint32_t slot : heaps_[h].live) {
                    const px::Owner want =
                        h == 0 ? px::Owner::current_context : px::Owner::other_context;
                    CHECK(px::owner(block(slot).p) == want, "owner(%p) = %s, want %s",
                          static_cast<void*>(block(slot).p), px::describe(px::owner(block(slot).p)),
                          px::describe(want));
                }
            CHECK(px::owner(&outside) == px::Owner::main, "owner(stack) = %s",
                  px::describe(px::owner(&outside)));
        }
        CHECK(!px::in_parallel_context(), "ContextScope did not restore the previous context");
    }

    // Destroys both heaps, checking the callbacks their destruction runs, then that no heap
    // owns their memory any more.
    void teardown() {
        for (int h = 0; h < 2; ++h) {
            HeapModel& m = heaps_[h];
            if (config_.list_first()) {
                // Destroying the list cancels what it tracks: those callbacks never run.
                m.list.reset();
                for (std::size_t i = m.entries.size(); i-- > 0;) {
                    const Entry e = m.entries[i];
                    if (e.kind != kDealloc)
                        continue;
                    block(e.slot).tracked = false;
                    m.entries.erase(m.entries.begin() + static_cast<std::ptrdiff_t>(i));
                    book_free(m, e.gen, globals().book.cleanup);
                    book_free(m, e.gen, globals().book.record);
                }
                m.tracked = 0;
                const px::HeapStats s = m.heap->stats();
                CHECK(s.bytes_in_use == m.in_use && s.bytes_held == m.held && s.frees == m.frees,
                      "heap %d after its DeallocList died: %zu in use, %zu held, %llu frees; "
                      "model %zu, %zu, %llu",
                      h, s.bytes_in_use, s.bytes_held, ull(s.frees), m.in_use, m.held,
                      ull(m.frees));
            }
            active_.push_back(Active{h, true, 0, true, 0});
            // Not reset(): that clears the pointer first, and the callbacks use it.
            delete m.heap.get();
            (void)m.heap.release();
            active_.pop_back();
            CHECK(m.entries.empty(), "heap %d destroyed with %zu cleanups that never ran", h,
                  m.entries.size());
            if (m.list) {
                CHECK(m.list->size() == 0, "heap %d destroyed, %zu objects still tracked", h,
                      m.list->size());
                m.list.reset();
            }
        }
        // No heap exists now, so none owns any of that memory. (is_context_memory() is a range
        // test of the whole context region, owned or not.)
        std::size_t n = 0;
        for (const auto& [a, slot] : by_addr_) {
            if (++n > 64)
                break;
            const char* p = blocks_[slot].p;
            CHECK(px::owner_of(p) == nullptr, "%p (heap %d) still owned after both heaps died",
                  static_cast<const void*>(p), blocks_[slot].heap);
        }
    }

    // ---- callbacks ----
    // The callback that runs must be the newest registration still pending; during a rewind
    // it must also be newer than the snapshot. Returns it, removed from the model.
    Entry take_expected(int h, bool dealloc, std::uint64_t seq, std::uint32_t slot) {
        CHECK(!active_.empty() && active_.back().heap == h,
              "a callback of heap %d ran outside its rewind or destruction (running: %d)", h,
              active_.empty() ? -1 : active_.back().heap);
        Active& run = active_.back();
        HeapModel& m = heaps_[h];
        CHECK(!m.entries.empty(), "heap %d ran a callback with none pending", h);
        const Entry e = m.entries.back();
        const bool match =
            dealloc ? e.kind == kDealloc && e.slot == slot : e.kind != kDealloc && e.seq == seq;
        CHECK(match, "heap %d ran %s %llu, but the newest pending one is %s %llu", h,
              dealloc ? "the dealloc of block" : "cleanup", ull(dealloc ? block(slot).id : seq),
              e.kind == kDealloc ? "the dealloc of block" : "cleanup",
              ull(e.kind == kDealloc ? block(e.slot).id : e.seq));
        if (!run.destroying)
            CHECK(e.gen >= run.gen, "heap %d ran a callback registered before the snapshot", h);
        m.entries.pop_back();
        if (run.first) {
            run.first = false;
            // "before any memory is released": everything the rewind will release is intact.
            if (!run.destroying)
                for (const std::uint32_t s : m.live)
                    if (block(s).gen >= run.gen)
                        verify(block(s), "before the first callback of a rewind");
        }
        if (!run.destroying)
            run.ran_bytes += globals().book.cleanup + (dealloc ? globals().book.record : 0);
        return e;
    }

    void refused_rewind(int h, const px::Snapshot& snap, RewindStatus want) {
        px::Heap& heap = *heaps_[h].heap;
        const px::HeapStats before = heap.stats();
        const RewindStatus got = heap.rewind(snap);
        CHECK(got == want, "rewind of heap %d from inside a cleanup: got %s, want %s", h,
              px::describe(got), px::describe(want));
        CHECK(px::describe(got)[0] != '\0', "describe(%d) is empty", static_cast<int>(got));
        CHECK(same_stats(before, heap.stats()),
              "a rewind refused inside a cleanup changed the heap");
    }

    void run_plain(int h, const Entry& e) {
        HeapModel& m = heaps_[h];
        switch (e.kind) {
        case kRewindInside: {
            // Refused, and the reason depends only on the snapshot: never taken and foreign are
            // recognised before the heap looks at its own state.
            px::Snapshot snap;
            RewindStatus want = RewindStatus::never_taken;
            switch (e.param % 4) {
            case 0:
                break;
            case 1:
                std::tie(snap, want) = misuse_snapshot(h, 1, e.param);
                break;
            case 2:
                snap = globals().dead;
                want = RewindStatus::foreign;
                break;
            default:
                if (!m.open.empty()) {
                    snap = m.open[e.param % m.open.size()].snap;
                    want = RewindStatus::inside_cleanup;
                } else if (!m.closed.empty()) {
                    snap = m.closed[e.param % m.closed.size()];
                    want = RewindStatus::inside_cleanup;
                }
                break;
            }
            refused_rewind(h, snap, want);
            return;
        }
        case kCancelOther: {
            const std::vector<std::uint32_t> plain = entries_of(h, true);
            if (!plain.empty())
                cancel_entry(h, pick(plain, e.param));
            return;
        }
        case kAllocInside:
            if (!active_.back().destroying && m.live.size() < kMaxLive)
                do_alloc(h, 1 + e.param * 3u, 0);
            return;
        case kUntrackOther: {
            if (!m.list)
                return;
            const std::vector<std::uint32_t> tracked = entries_of(h, false);
            if (!tracked.empty())
                untrack_block(m.entries[pick(tracked, e.param)].slot);
            return;
        }
        case kSnapshotInside:
            if (!active_.back().destroying)
                do_snapshot(h);
            return;
        case kRewindOther: {
            const int o = 1 - h;
            const HeapModel& other = heaps_[o];
            if (!other.heap || other.open.empty())
                return;
            const std::size_t idx = other.open.size() - 1 - e.param % other.open.size();
            if (std::any_of(active_.begin(), active_.end(),
                            [o](const Active& a) { return a.heap == o; })) {
                // This callback runs inside one of the other heap's callbacks.
                refused_rewind(o, other.open[idx].snap, RewindStatus::inside_cleanup);
                return;
            }
            do_rewind(o, idx);
            return;
        }
        default:
            return;
        }
    }

    Config config_;
    FuzzedDataProvider in_;
    HeapModel heaps_[2];
    std::vector<Block> blocks_;
    std::vector<std::uint32_t> free_slots_;
    std::map<std::uintptr_t, std::uint32_t> by_addr_; // every live block of both heaps
    std::uint64_t next_id_ = 1;
    std::uint64_t next_seq_ = 1;
    std::size_t size_budget_ = kSizeBudget;
    std::size_t verify_budget_ = kVerifyBudget;
    std::size_t check_budget_ = kCheckBudget;
    // Heaps running callbacks (in a rewind or their destructor), innermost last: a cleanup
    // of one heap may rewind the other.
    std::vector<Active> active_;
};

void Fuzz::cleanup_ran(std::uintptr_t arg) {
    const int h = static_cast<int>(arg & 1u);
    const Entry e = take_expected(h, false, arg >> 1, 0);
    run_plain(h, e);
}

void Fuzz::dealloc_ran(void* object) {
    auto it = by_addr_.find(addr(object));
    CHECK(it != by_addr_.end(), "dealloc callback for %p, which is not a live block", object);
    const std::uint32_t slot = it->second;
    Block& b = block(slot);
    const int h = b.heap;
    take_expected(h, true, 0, slot);
    verify_full(b, "before its dealloc callback");
    HeapModel& m = heaps_[h];
    CHECK(!m.list->is_tracked(object), "an object is still tracked while its callback runs");
    CHECK(!m.list->untrack(object), "a dealloc callback could untrack its own object");
    b.tracked = false;
    --m.tracked;
}

void on_cleanup(void* arg) { g_fuzz->cleanup_ran(reinterpret_cast<std::uintptr_t>(arg)); }
void on_dealloc(void* object) { g_fuzz->dealloc_ran(object); }

} // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
    const char* trace = std::getenv("PX_FUZZ_TRACE");
    g_trace = trace != nullptr && trace[0] == '1';
    globals();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    globals();
    g_where = Where{-1, "setup"};
    Fuzz fuzz(data, std::min(size, kMaxInput));
    g_fuzz = &fuzz;
    fuzz.run();
    g_fuzz = nullptr;
    return 0;
}
