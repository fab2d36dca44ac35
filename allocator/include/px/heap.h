// px/heap.h — the context heap: the whole contract of px_allocator.
//
// A Heap is a bump allocator with snapshots. A parallel context takes a snapshot before a
// callback and rewinds to it afterwards: everything allocated in between is released at once,
// at a cost that does not grow with the number of objects the callback made (chunks go back
// to the heap's cache in one step; only sanitizer and poison modes touch each chunk).
//
// What a heap promises:
//   * Every heap's memory lies in one virtual-address region reserved for the whole process,
//     so owner_of(p) answers "is this context memory, and whose?" with a subtract, a compare
//     and one table load. Memory outside the region belongs to the main thread.
//   * alloc() returns 16-byte-aligned memory (alloc_aligned: any power of two up to 64 KiB).
//     A 16-byte header before every block records its size, so free(), realloc() and
//     usable_size() work on any pointer the heap returned.
//   * free() makes a block reusable inside the current snapshot through size-class free lists:
//     a callback that allocates and frees in a loop stays small. A block allocated *before*
//     the current snapshot and freed after it becomes reusable when that snapshot is rewound
//     (reusing it earlier would corrupt the state the rewind restores).
//   * Snapshots nest like a stack. rewind(s) releases everything allocated since s, including
//     snapshots taken after s. Rewinding to a snapshot of another heap, to one already
//     rewound (or discarded by rewinding an outer one), or from inside a cleanup callback is
//     refused with a RewindStatus that says which mistake it was; the heap is left unchanged.
//   * Cleanups (add_cleanup) registered after a snapshot run when it is rewound, newest
//     first, exactly once, before any memory is released. A cancelled cleanup never runs.
//   * A byte limit (set_limit) bounds the bytes the heap holds: an allocation that would take
//     bytes_held past it returns nullptr; the heap stays consistent and is fully usable again
//     after a rewind (or after freeing blocks of the size it needs).
//   * Chunks released by a rewind are cached for reuse; only the cache above
//     HeapOptions::cache_bytes goes back to the operating system.
//
// Two byte counts, both gross (a block of n <= 32 KiB bytes counts 16 + class_size(n); a
// larger block counts 32 + n rounded up to 16):
//   bytes_in_use  the blocks that are live now;
//   bytes_held    what the heap has handed out and not yet taken back by a rewind: live
//                 blocks, freed blocks waiting on free lists or for a rewind, and alignment
//                 padding. Freeing a small or medium block never lowers it (rewinds do);
//                 freeing a large block returns its chunk, and freeing in
//                 malloc_per_allocation mode returns the block, so those do lower it. The limit and
//                 the high-water mark count this, the memory a callback really occupies, because it
//                 lets the allocation fast path check the limit without doing any arithmetic.
//
// A Heap is used by one thread at a time. owner_of() may be called from any thread.
//
// Poisoning: with PX_TRACK_ASAN (the asan preset) free, unallocated and rewound memory is
// ASan-poisoned, so touching it is a sanitizer report; with PX_TRACK_VALGRIND the same goes
// through Valgrind client requests. HeapOptions::poison_rewound additionally maps rewound
// pages PROT_NONE in any build, so a dangling pointer faults at once.
// HeapOptions::malloc_per_allocation makes every block a separate malloc() so ASan records
// an allocation and a free stack for each one.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "px/detail/track.h"

namespace px {

class Heap;

struct HeapOptions {
    std::size_t limit = 0;              // bytes_held allowed; 0 means no limit
    std::size_t cache_bytes = 8u << 20; // chunk bytes kept for reuse after a rewind
    bool poison_rewound = false;        // PROT_NONE rewound pages (release-build poison mode)
    bool malloc_per_allocation = false; // debug: every block its own malloc()
};

struct HeapStats {
    std::size_t bytes_in_use = 0;  // gross bytes of live blocks
    std::size_t bytes_held = 0;    // live + freed-but-not-rewound + padding (see above)
    std::size_t high_water = 0;    // largest bytes_held seen
    std::size_t chunk_bytes = 0;   // bytes of chunks holding blocks now
    std::size_t cached_bytes = 0;  // bytes of chunks kept for reuse
    std::size_t chunks = 0;        // chunks holding blocks now (large blocks included)
    std::uint64_t allocations = 0; // successful allocations, ever
    std::uint64_t frees = 0;       // explicit frees, ever
    std::uint64_t failed = 0;      // allocations refused by the limit or the OS
    std::uint64_t snapshots = 0;   // snapshots taken, ever
    std::uint64_t rewinds = 0;     // successful rewinds, ever
    std::uint32_t depth = 0;       // snapshots open now
};

// A snapshot names one point in one heap's history. It is a value: copying it is free and it
// owns nothing. Only rewind() gives it meaning.
struct Snapshot {
    std::uint64_t heap_id = 0; // 0: never taken
    std::uint64_t serial = 0;
    std::uint32_t depth = 0;
};

enum class RewindStatus {
    ok,
    never_taken,    // a default-constructed Snapshot
    foreign,        // taken on another heap
    stale,          // already rewound, or discarded by rewinding an older snapshot
    inside_cleanup, // rewind() called from a cleanup callback of this heap's rewind
};

// A sentence for logs and error messages, e.g. "snapshot was already rewound".
const char* describe(RewindStatus status) noexcept;

using CleanupFn = void (*)(void* arg);
struct Cleanup; // opaque handle; lives in the heap that made it

// Which heap owns p, or nullptr when p is not context memory (main-thread memory, static
// data, a stack). O(1); safe from any thread. A pointer into a block freed to a free list
// still reports its heap; a pointer into memory returned to the OS reports nullptr.
inline Heap* owner_of(const void* p) noexcept;
inline bool is_context_memory(const void* p) noexcept; // p lies in the region at all
// Reserves the region now if it is not yet (heaps do it at their first chunk): false when
// the OS refuses the address range (PX_REGION_GIB GiB, 64 by default; `ulimit -v` or
// valgrind may refuse it), so a caller can say so before any heap needs memory.
bool reserve_region() noexcept;

// Size classes: blocks up to 1 KiB round up to 16 bytes, up to 32 KiB to a quarter of a
// power of two; larger blocks get a chunk of their own.
constexpr std::size_t kSmallMax = 1024;
constexpr std::size_t kMediumMax = std::size_t{32} * 1024;
constexpr unsigned kClassCount = 64 + 20;
constexpr unsigned size_class(std::size_t n) noexcept;
constexpr std::size_t class_size(unsigned cls) noexcept;

class Heap {
public:
    explicit Heap(const HeapOptions& options = {});
    ~Heap(); // runs pending cleanups, then releases every chunk
    Heap(const Heap&) = delete;
    Heap& operator=(const Heap&) = delete;

    // Allocation. nullptr when the limit would be exceeded or the OS refuses memory.
    void* alloc(std::size_t size) noexcept;
    void* alloc_aligned(std::size_t size, std::size_t alignment) noexcept; // power of two
    void* realloc(void* p, std::size_t size) noexcept;      // realloc(nullptr, n) == alloc(n)
    void free(void* p) noexcept;                            // free(nullptr) is a no-op
    static std::size_t usable_size(const void* p) noexcept; // >= the size asked for

    // Snapshots.
    Snapshot snapshot() noexcept;                           // O(1)
    [[nodiscard]] RewindStatus rewind(Snapshot s) noexcept; // by value: cleanups may move it
    std::uint32_t depth() const noexcept { return top_; }

    // Cleanups run at the rewind of the innermost snapshot open when they were added (or at
    // destruction). nullptr when the limit is reached.
    Cleanup* add_cleanup(CleanupFn fn, void* arg) noexcept;
    void cancel_cleanup(Cleanup* c) noexcept; // O(1); c must not have run yet

    void set_limit(std::size_t bytes) noexcept; // 0 removes the limit
    std::size_t limit() const noexcept { return limit_ == SIZE_MAX ? 0 : limit_; }
    HeapStats stats() const noexcept;
    std::uint64_t id() const noexcept { return id_; }
    const HeapOptions& options() const noexcept { return options_; }

    // Returns cached chunks to the OS, keeping at most keep_bytes.
    void trim(std::size_t keep_bytes = 0) noexcept;

private:
    struct Block; // a freed block: a link through its first word
    struct Frame;
    struct Chunk;
    struct MallocLink;
    friend struct HeapInternals;

    void* alloc_slow(std::size_t size, std::size_t alignment) noexcept;
    void free_slow(void* p) noexcept;
    bool push_frame() noexcept;
    std::size_t held() const noexcept {
        return folded_ + static_cast<std::size_t>(pos_ - mark_) + outside_;
    }
    void set_end() noexcept;

    // Hot fields first: the fast paths touch only this cache line. Bump allocation updates
    // nothing but pos_ and allocations_: bytes_held is derived from pos_, and the limit is
    // folded into end_.
    char* pos_ = nullptr;          // bump pointer in the current chunk
    char* end_ = nullptr;          // min(end of the chunk's usable part, pos_ + limit headroom)
    Block** heads_ = nullptr;      // free lists of the innermost frame
    std::uint64_t top_serial_ = 0; // serial of the innermost frame (the gen of new blocks)
    std::uint64_t allocations_ = 0;
    std::size_t idle_ = 0;   // bytes held but not live (free lists, pending, padding)
    std::size_t folded_ = 0; // bytes bumped before mark_
    char* mark_ = nullptr;   // where pos_ stood when folded_ was last brought up to date

    std::size_t outside_ = 0;    // bytes held outside the bump chunks (large, malloc'd)
    std::size_t high_water_ = 0; // peak of held(), as of its last decrease
    std::size_t limit_ = SIZE_MAX;

    std::uint64_t frees_ = 0;
    std::uint64_t failed_ = 0;
    std::uint64_t snapshots_ = 0;
    std::uint64_t rewinds_ = 0;
    std::uint64_t id_ = 0;
    std::uint64_t next_serial_ = 1;
    Frame* frames_ = nullptr; // frames_[0] is the base; frames_[top_] the innermost
    std::uint32_t top_ = 0;
    std::uint32_t frame_capacity_ = 0;
    bool rewinding_ = false;
    // Bump chunks and cached chunks are stacks of descriptor pointers, so a rewind moves a
    // run of chunks to the cache with one copy instead of a walk through descriptors.
    Chunk** chunks_ = nullptr; // chunks_[chunk_count_ - 1] is the current chunk
    std::uint32_t chunk_count_ = 0;
    std::uint32_t chunk_capacity_ = 0;
    Chunk** cache_ = nullptr;
    std::uint32_t cache_count_ = 0;
    std::uint32_t cache_capacity_ = 0;
    Chunk* large_ = nullptr; // dedicated chunks of large blocks, newest first
    std::size_t large_count_ = 0;
    std::size_t chunk_bytes_ = 0; // bump chunks only
    std::size_t large_bytes_ = 0; // chunks of large blocks
    std::size_t cached_bytes_ = 0;
    std::size_t next_chunk_size_ = 0;
    Cleanup* cleanups_ = nullptr;         // newest first
    MallocLink* malloc_blocks_ = nullptr; // malloc_per_allocation mode, newest first
    HeapOptions options_;
};

// ---- Implementation details below this line; not part of the contract. ----

namespace detail {

// The header before every block.
struct BlockHeader {
    std::uint64_t size; // bytes asked for
    std::uint64_t gen;  // serial of the frame that allocated it, plus flag bits
};
constexpr std::uint64_t kGenFreed = 1ull << 63;  // on a free list or pending
constexpr std::uint64_t kGenLarge = 1ull << 62;  // owns a dedicated chunk
constexpr std::uint64_t kGenMalloc = 1ull << 61; // malloc_per_allocation block
constexpr std::uint64_t kGenFlags = kGenFreed | kGenLarge | kGenMalloc;

} // namespace detail
} // namespace px

// What owner_of() reads, under C names, because the patched interpreter reads it from C too:
// Include/pxkit.h has the same definition behind the same guard. base, size and table are
// written once, when the region is reserved; the table's entries whenever a chunk changes
// hands. Every access is atomic (std::atomic_ref here, __atomic builtins in C); all are
// relaxed except `size`, which publishes the others.
#ifndef PX_HEAP_REGION_VIEW_DEFINED
#define PX_HEAP_REGION_VIEW_DEFINED
extern "C" {
struct PxHeap_RegionView {
    std::uintptr_t base;
    std::uintptr_t size;
    void* table;      // std::atomic<px::Heap*>[size >> 16]
    int malloc_heaps; // heaps in malloc_per_allocation mode
};
}
#endif
extern "C" PxHeap_RegionView PxHeap_region;
extern "C" void* PxHeap_owner_of_malloc_block(const void* p);

namespace px {
namespace detail {

inline std::uintptr_t region_load(std::uintptr_t& field, std::memory_order order) noexcept {
    return std::atomic_ref<std::uintptr_t>(field).load(order);
}
inline int malloc_heaps() noexcept {
    return std::atomic_ref<int>(PxHeap_region.malloc_heaps).load(std::memory_order_relaxed);
}
inline std::atomic<Heap*>* region_table() noexcept {
    return static_cast<std::atomic<Heap*>*>(
        std::atomic_ref<void*>(PxHeap_region.table).load(std::memory_order_relaxed));
}

inline BlockHeader* header_of(const void* p) noexcept {
    return reinterpret_cast<BlockHeader*>(const_cast<char*>(static_cast<const char*>(p)) -
                                          sizeof(BlockHeader));
}

} // namespace detail

constexpr unsigned size_class(std::size_t n) noexcept {
    if (n <= kSmallMax)
        return n == 0 ? 0 : static_cast<unsigned>((n + 15) / 16 - 1);
    // (2^k, 2^(k+1)] is split into four classes, for k = 10 .. 14.
    unsigned k = 63 - static_cast<unsigned>(__builtin_clzll(n - 1));
    unsigned quarter = static_cast<unsigned>((n - 1 - (std::size_t{1} << k)) >> (k - 2));
    return 64 + (k - 10) * 4 + quarter;
}

constexpr std::size_t class_size(unsigned cls) noexcept {
    if (cls < 64)
        return (cls + 1) * std::size_t{16};
    unsigned m = cls - 64, k = 10 + m / 4;
    return (std::size_t{1} << k) + (m % 4 + 1) * (std::size_t{1} << (k - 2));
}

inline bool is_context_memory(const void* p) noexcept {
    std::uintptr_t size = detail::region_load(PxHeap_region.size, std::memory_order_acquire);
    std::uintptr_t off = reinterpret_cast<std::uintptr_t>(p) -
                         detail::region_load(PxHeap_region.base, std::memory_order_relaxed);
    if (off < size) [[likely]]
        return true;
    if (detail::malloc_heaps() == 0) [[likely]]
        return false;
    return PxHeap_owner_of_malloc_block(p) != nullptr;
}

inline Heap* owner_of(const void* p) noexcept {
    std::uintptr_t size = detail::region_load(PxHeap_region.size, std::memory_order_acquire);
    std::uintptr_t off = reinterpret_cast<std::uintptr_t>(p) -
                         detail::region_load(PxHeap_region.base, std::memory_order_relaxed);
    if (off < size) [[likely]]
        return detail::region_table()[off >> 16].load(std::memory_order_relaxed);
    if (detail::malloc_heaps() == 0) [[likely]]
        return nullptr;
    return static_cast<Heap*>(PxHeap_owner_of_malloc_block(p));
}

struct Heap::Block {
    Block* next;
};

inline void* Heap::alloc(std::size_t size) noexcept {
    // size_class() for 1 .. kSmallMax in one step; 0 wraps around and, like anything over
    // kSmallMax, takes the slow path.
    std::size_t cls = (size - 1) >> 4;
    if (cls >= kSmallMax / 16) [[unlikely]]
        return alloc_slow(size, 16);
    std::size_t gross = (cls + 1) * 16 + sizeof(detail::BlockHeader);
    char* block;
    if (Block* b = heads_[cls]) {
        px_track_unpoison(b, sizeof(Block));
        heads_[cls] = b->next;
        px_track_poison(b, sizeof(Block));
        block = reinterpret_cast<char*>(b) - sizeof(detail::BlockHeader);
        idle_ -= gross; // held already: a pop leaves bytes_held alone, so no limit check
    } else {
        block = pos_;
        if (static_cast<std::size_t>(end_ - block) < gross) [[unlikely]]
            return alloc_slow(size, 16);
        pos_ = block + gross;
    }
    px_track_unpoison(block, sizeof(detail::BlockHeader));
    auto* h = reinterpret_cast<detail::BlockHeader*>(block);
    h->size = size;
    h->gen = top_serial_;
    px_track_poison(block, sizeof(detail::BlockHeader));
    ++allocations_;
    char* p = block + sizeof(detail::BlockHeader);
    px_track_alloc(p, size);
    return p;
}

inline void Heap::free(void* p) noexcept {
    if (p == nullptr)
        return;
    detail::BlockHeader* h = detail::header_of(p);
    px_track_unpoison(h, sizeof(*h));
    std::uint64_t gen = h->gen;
    std::uint64_t size = h->size;
    // One compare: a block of the innermost frame with no flag set (flags are the top bits).
    std::size_t cls = (size - 1) >> 4; // as in alloc()
    if (gen != top_serial_ || cls >= kSmallMax / 16) [[unlikely]] {
        px_track_poison(h, sizeof(*h));
        free_slow(p);
        return;
    }
    h->gen = gen | detail::kGenFreed;
    px_track_poison(h, sizeof(*h));
    px_track_free(p, (cls + 1) * 16);
    px_track_unpoison(p, sizeof(Block));
    auto* b = static_cast<Block*>(p);
    b->next = heads_[cls];
    heads_[cls] = b;
    px_track_poison(p, sizeof(Block));
    idle_ += (cls + 1) * 16 + sizeof(detail::BlockHeader);
    ++frees_;
}

} // namespace px
