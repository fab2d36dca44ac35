// heap.cpp — the context heap's slow paths: chunks, large blocks, frames, rewind.
//
// Invariants the code below keeps (the fuzzer checks them from outside):
//  * Every live block's gen is the serial of the frame that was innermost when it was
//    allocated, and gens never decrease along chunks_, large_ and cleanups_ (newest first):
//    a rewind removes everything with a gen >= the snapshot's serial, so whatever is left was
//    allocated earlier.
//  * A frame's free lists hold only blocks with that frame's gen. A block freed while a newer
//    frame is innermost goes on that frame's pending list instead; the rewind that pops the
//    frame hands it down, so memory the rewind restores is never reused in between.
//  * in_use_ is the gross size of live blocks; pending blocks are not live.
#include <sys/mman.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <shared_mutex>

#include "assert.h"
#include "px/heap.h"
#include "region.h"

namespace px {

using detail::BlockHeader;
using detail::header_of;
using detail::kGenFlags;
using detail::kGenFreed;
using detail::kGenLarge;
using detail::kGenMalloc;

namespace detail {

void fatal(const char* fmt, ...) noexcept {
    std::va_list ap;
    va_start(ap, fmt);
    std::fputs("pxkit heap: ", stderr);
    std::vfprintf(stderr, fmt, ap);
    std::fputc('\n', stderr);
    va_end(ap);
    std::abort();
}

namespace {
// Blocks of heaps in malloc_per_allocation mode: start -> (end, heap). Debug only.
struct MallocRegistry {
    std::shared_mutex mu;
    std::map<std::uintptr_t, std::pair<std::uintptr_t, Heap*>> blocks;
};
MallocRegistry& malloc_registry() {
    static auto* r = new MallocRegistry;
    return *r;
}
} // namespace

Heap* owner_of_malloc_block(const void* p) noexcept {
    auto a = reinterpret_cast<std::uintptr_t>(p);
    MallocRegistry& r = malloc_registry();
    std::shared_lock lock(r.mu);
    auto it = r.blocks.upper_bound(a);
    if (it == r.blocks.begin())
        return nullptr;
    --it;
    return a < it->second.first ? it->second.second : nullptr;
}

// Frees a malloc_per_allocation block and forgets its owner.
void forget_malloc_block(void* raw) {
    MallocRegistry& r = malloc_registry();
    {
        std::unique_lock lock(r.mu);
        r.blocks.erase(reinterpret_cast<std::uintptr_t>(raw));
    }
    std::free(raw);
}

} // namespace detail

namespace {
constexpr std::size_t kHeader = sizeof(BlockHeader);
constexpr std::size_t kFirstChunk = detail::kGranule;
constexpr std::size_t kMaxChunk = 4u << 20;
constexpr std::size_t kMaxAlign = detail::kGranule;
std::atomic<std::uint64_t> g_next_heap_id{1};

std::size_t round_up(std::size_t n, std::size_t to) { return (n + to - 1) & ~(to - 1); }

std::size_t gross_of(std::size_t size) {
    return size <= kMediumMax ? kHeader + class_size(size_class(size))
                              : 2 * kHeader + round_up(size, 16);
}
} // namespace

const char* describe(RewindStatus status) noexcept {
    switch (status) {
    case RewindStatus::ok:
        return "ok";
    case RewindStatus::never_taken:
        return "snapshot was never taken (default-constructed, or the snapshot stack was out "
               "of memory)";
    case RewindStatus::foreign:
        return "snapshot belongs to another heap";
    case RewindStatus::stale:
        return "snapshot was already rewound, or discarded by rewinding an older snapshot";
    case RewindStatus::inside_cleanup:
        return "rewind called from a cleanup callback while this heap is rewinding";
    }
    return "unknown rewind status";
}

struct Heap::Chunk {
    char* base;
    std::size_t size;
    char* accessible; // end of the read-write part (all of it unless poison_rewound)
    Chunk* next;
    Chunk* prev;       // large_ list only
    std::uint64_t gen; // large_ list only
};

struct Heap::Frame {
    std::uint64_t serial;
    Chunk* chunk; // current chunk when the frame was pushed
    char* pos;
    std::size_t in_use;
    Block* pending; // blocks of older frames freed while this frame was innermost
    Block* heads[kClassCount];
};

struct Cleanup {
    Cleanup* prev;
    Cleanup* next;
    CleanupFn fn;
    void* arg;
    std::uint64_t gen;
};

struct Heap::MallocLink {
    MallocLink* prev;
    MallocLink* next;
    void* raw;
    std::size_t gross;
};

// ---- construction ----

Heap::Heap(const HeapOptions& options) : options_(options) {
    id_ = g_next_heap_id.fetch_add(1, std::memory_order_relaxed);
    set_limit(options.limit);
    next_chunk_size_ = kFirstChunk;
    if (options_.malloc_per_allocation)
        detail::g_region.malloc_heaps.fetch_add(1, std::memory_order_relaxed);
    frame_capacity_ = 8;
    frames_ = static_cast<Frame*>(std::calloc(frame_capacity_, sizeof(Frame)));
    PX_CHECK(frames_ != nullptr, "out of memory creating a heap");
    frames_[0].serial = next_serial_++;
    top_serial_ = frames_[0].serial;
    heads_ = frames_[0].heads;
}

Heap::~Heap() {
    rewinding_ = true;
    while (Cleanup* c = cleanups_) {
        cleanups_ = c->next;
        if (cleanups_)
            cleanups_->prev = nullptr;
        c->fn(c->arg);
    }
    while (MallocLink* m = malloc_blocks_) {
        malloc_blocks_ = m->next;
        detail::forget_malloc_block(m->raw);
    }
    for (Chunk* list : {chunks_, large_, cache_}) {
        while (Chunk* c = list) {
            list = c->next;
            detail::region_release(c->base, c->size);
            std::free(c);
        }
    }
    std::free(frames_);
    if (options_.malloc_per_allocation)
        detail::g_region.malloc_heaps.fetch_sub(1, std::memory_order_relaxed);
}

// ---- chunks ----

struct HeapInternals {
    static Heap::Chunk* take_cached(Heap::Chunk*& cache, std::size_t need, std::size_t at_most) {
        for (Heap::Chunk** link = &cache; *link; link = &(*link)->next) {
            Heap::Chunk* c = *link;
            if (c->size >= need && c->size <= at_most) {
                *link = c->next;
                return c;
            }
        }
        return nullptr;
    }

    // A cached chunk of `need` to `at_most` bytes, or else a new one of `fresh` bytes from
    // the region; nullptr if neither can be had.
    static Heap::Chunk* get_chunk(Heap& h, std::size_t need, std::size_t at_most,
                                  std::size_t fresh) {
        Heap::Chunk* c = take_cached(h.cache_, need, at_most);
        if (c) {
            h.cached_bytes_ -= c->size;
            if (h.options_.poison_rewound && c->accessible < c->base + c->size) {
                detail::region_protect(c->accessible, c->base + c->size, true);
                c->accessible = c->base + c->size;
            }
        } else {
            std::size_t size = round_up(fresh, detail::kGranule);
            char* base = detail::region_acquire(size, &h);
            if (base == nullptr)
                return nullptr;
            c = static_cast<Heap::Chunk*>(std::malloc(sizeof(Heap::Chunk)));
            if (c == nullptr) {
                detail::region_release(base, size);
                return nullptr;
            }
            *c = Heap::Chunk{base, size, base + size, nullptr, nullptr, 0};
            px_track_poison(base, size);
        }
        h.chunk_bytes_ += c->size;
        ++h.chunk_count_;
        return c;
    }

    static void put_chunk(Heap& h, Heap::Chunk* c) {
        px_track_poison(c->base, c->size);
        h.chunk_bytes_ -= c->size;
        --h.chunk_count_;
        if (h.options_.poison_rewound) {
            detail::region_protect(c->base, c->accessible, false);
            c->accessible = c->base;
        }
        c->next = h.cache_;
        h.cache_ = c;
        h.cached_bytes_ += c->size;
    }

    // Makes room for `need` more bytes at pos_, in this chunk or a new one.
    static bool grow(Heap& h, std::size_t need) {
        Heap::Chunk* cur = h.chunks_;
        if (cur && h.options_.poison_rewound) {
            char* full = cur->base + cur->size;
            if (static_cast<std::size_t>(full - h.pos_) >= need) {
                char* want = h.pos_ + need + detail::kGranule;
                char* to = want < full ? want : full;
                to = reinterpret_cast<char*>(
                    round_up(reinterpret_cast<std::uintptr_t>(to), detail::region_page_size()));
                detail::region_protect(cur->accessible, to, true);
                cur->accessible = to;
                h.end_ = to;
                return true;
            }
        }
        std::size_t size = h.next_chunk_size_;
        while (size < need)
            size *= 2;
        Heap::Chunk* c = get_chunk(h, need, size, size);
        if (c == nullptr && size > need) // the region may still have room for the bare need
            c = get_chunk(h, need, size, need);
        if (c == nullptr)
            return false;
        if (h.next_chunk_size_ < kMaxChunk)
            h.next_chunk_size_ *= 2;
        c->next = h.chunks_;
        h.chunks_ = c;
        h.pos_ = c->base;
        h.end_ = c->accessible;
        return true;
    }

    static void release_large(Heap& h, Heap::Chunk* c) {
        if (c->prev)
            c->prev->next = c->next;
        else
            h.large_ = c->next;
        if (c->next)
            c->next->prev = c->prev;
        put_chunk(h, c);
    }

    // Makes a freed block of the innermost frame reusable. in_use_ is already updated.
    static void reclaim(Heap& h, BlockHeader* hdr) {
        void* p = hdr + 1;
        if (hdr->gen & kGenLarge) {
            px_track_unpoison(hdr - 1, kHeader);
            Heap::Chunk* c = *reinterpret_cast<Heap::Chunk**>(hdr - 1);
            release_large(h, c);
            return;
        }
        hdr->gen = h.top_serial_ | kGenFreed;
        unsigned cls = size_class(hdr->size);
        auto* b = static_cast<Heap::Block*>(p);
        px_track_unpoison(b, sizeof(Heap::Block));
        b->next = h.heads_[cls];
        px_track_poison(b, sizeof(Heap::Block));
        h.heads_[cls] = b;
    }

    static void defer(Heap& h, BlockHeader* hdr) {
        auto* b = reinterpret_cast<Heap::Block*>(hdr + 1);
        px_track_unpoison(b, sizeof(Heap::Block));
        b->next = h.frames_[h.top_].pending;
        px_track_poison(b, sizeof(Heap::Block));
        h.frames_[h.top_].pending = b;
    }

    static Heap::Block* next_of(Heap::Block* b) {
        px_track_unpoison(b, sizeof(Heap::Block));
        Heap::Block* n = b->next;
        px_track_poison(b, sizeof(Heap::Block));
        return n;
    }
};

// ---- allocation ----

void* Heap::alloc_slow(std::size_t size, std::size_t alignment) noexcept {
    if (alignment < 16)
        alignment = 16;
    if ((alignment & (alignment - 1)) != 0 || alignment > kMaxAlign || size > (SIZE_MAX >> 2)) {
        ++failed_;
        return nullptr;
    }
    std::size_t gross = gross_of(size);
    if (in_use_ + gross > limit_) {
        ++failed_;
        return nullptr;
    }
    char* p = nullptr;
    std::uint64_t flags = 0;
    if (options_.malloc_per_allocation) {
        std::size_t prefix = round_up(sizeof(MallocLink) + kHeader, alignment);
        void* raw = nullptr;
        if (posix_memalign(&raw, alignment, prefix + size) != 0) {
            ++failed_;
            return nullptr;
        }
        p = static_cast<char*>(raw) + prefix;
        auto* m = reinterpret_cast<MallocLink*>(p - kHeader) - 1;
        *m = MallocLink{nullptr, malloc_blocks_, raw, gross};
        if (malloc_blocks_)
            malloc_blocks_->prev = m;
        malloc_blocks_ = m;
        auto& r = detail::malloc_registry();
        std::unique_lock lock(r.mu);
        r.blocks[reinterpret_cast<std::uintptr_t>(raw)] = {
            reinterpret_cast<std::uintptr_t>(p + size), this};
        flags = kGenMalloc;
    } else if (size > kMediumMax) {
        std::size_t offset = alignment > 2 * kHeader ? alignment : 2 * kHeader;
        std::size_t need = round_up(offset + size, 16);
        Chunk* c =
            HeapInternals::get_chunk(*this, need, 2 * round_up(need, detail::kGranule), need);
        if (c == nullptr) {
            ++failed_;
            return nullptr;
        }
        c->gen = top_serial_;
        c->prev = nullptr;
        c->next = large_;
        if (large_)
            large_->prev = c;
        large_ = c;
        p = c->base + offset;
        px_track_unpoison(p - 2 * kHeader, kHeader);
        *reinterpret_cast<Chunk**>(p - 2 * kHeader) = c;
        px_track_poison(p - 2 * kHeader, kHeader);
        flags = kGenLarge;
    } else {
        unsigned cls = size_class(size);
        if (alignment == 16 && heads_[cls] != nullptr) {
            Block* b = heads_[cls];
            heads_[cls] = HeapInternals::next_of(b);
            p = reinterpret_cast<char*>(b);
        } else {
            // Pad so that the block after the header is aligned.
            auto pad = [&] {
                auto at = reinterpret_cast<std::uintptr_t>(pos_) + kHeader;
                return round_up(at, alignment) - at;
            };
            std::size_t block = kHeader + class_size(cls);
            if (pos_ == nullptr || static_cast<std::size_t>(end_ - pos_) < pad() + block) {
                if (!HeapInternals::grow(*this, block + alignment - 16)) {
                    ++failed_;
                    return nullptr;
                }
            }
            p = pos_ + pad() + kHeader;
            pos_ = p + class_size(cls);
        }
    }
    auto* h = header_of(p);
    px_track_unpoison(h, kHeader);
    h->size = size;
    h->gen = top_serial_ | flags;
    px_track_poison(h, kHeader);
    in_use_ += gross;
    ++allocations_;
    px_track_alloc(p, size);
    return p;
}

void* Heap::alloc_aligned(std::size_t size, std::size_t alignment) noexcept {
    if (alignment <= 16 && !options_.malloc_per_allocation)
        return alloc(size);
    return alloc_slow(size, alignment);
}

void Heap::free_slow(void* p) noexcept {
    BlockHeader* h = header_of(p);
    px_track_unpoison(h, kHeader);
    std::uint64_t gen = h->gen;
    std::size_t size = h->size;
    PX_CHECK(!(gen & kGenFreed), "double free of %p (heap %llu)", p,
             static_cast<unsigned long long>(id_));
    PX_CHECK((gen & ~kGenFlags) <= top_serial_,
             "free of %p, which this heap did not allocate or has already rewound (heap %llu)", p,
             static_cast<unsigned long long>(id_));
    PX_ASSERT((gen & kGenMalloc) || owner_of(p) == this);
    std::size_t gross = gross_of(size);
    ++frees_;
    if (in_use_ > high_water_)
        high_water_ = in_use_;
    in_use_ -= gross;
    if (gen & kGenMalloc) {
        // No reuse, so no hazard: a malloc'd block is freed at once whatever its frame.
        px_track_poison(h, kHeader);
        auto* m = reinterpret_cast<MallocLink*>(h) - 1;
        if (m->prev)
            m->prev->next = m->next;
        else
            malloc_blocks_ = m->next;
        if (m->next)
            m->next->prev = m->prev;
        detail::forget_malloc_block(m->raw);
        return;
    }
    px_track_free(p, size <= kMediumMax ? class_size(size_class(size)) : size);
    if ((gen & ~kGenFlags) == top_serial_) {
        HeapInternals::reclaim(*this, h);
    } else {
        h->gen = gen | kGenFreed;
        HeapInternals::defer(*this, h);
    }
    px_track_poison(h, kHeader);
}

void* Heap::realloc(void* p, std::size_t size) noexcept {
    if (p == nullptr)
        return alloc(size);
    BlockHeader* h = header_of(p);
    px_track_unpoison(h, kHeader);
    std::size_t old = h->size;
    std::uint64_t gen = h->gen;
    PX_CHECK(!(gen & kGenFreed), "realloc of freed block %p (heap %llu)", p,
             static_cast<unsigned long long>(id_));
    // Same size class, same frame, no limit change: resize in place.
    if (!(gen & (kGenLarge | kGenMalloc)) && size <= kMediumMax &&
        size_class(size) == size_class(old) && (gen & ~kGenFlags) == top_serial_) {
        h->size = size;
        px_track_poison(h, kHeader);
        if (size < old)
            px_track_free(static_cast<char*>(p) + size, old - size);
        else
            px_track_alloc(static_cast<char*>(p) + old, size - old);
        return p;
    }
    px_track_poison(h, kHeader);
    void* q = alloc(size);
    if (q == nullptr)
        return nullptr;
    std::memcpy(q, p, old < size ? old : size);
    free(p);
    return q;
}

std::size_t Heap::usable_size(const void* p) noexcept {
    BlockHeader* h = header_of(p);
    px_track_unpoison(h, kHeader);
    std::size_t size = h->size;
    std::uint64_t gen = h->gen;
    px_track_poison(h, kHeader);
    if (gen & (kGenLarge | kGenMalloc) || size > kMediumMax)
        return size;
    // With a tracking tool only the asked-for bytes are unpoisoned, so promise only those.
    return PX_TRACKING ? size : class_size(size_class(size));
}

// ---- snapshots ----

bool Heap::push_frame() noexcept {
    if (top_ + 1 == frame_capacity_) {
        auto* grown =
            static_cast<Frame*>(std::realloc(frames_, 2 * frame_capacity_ * sizeof(Frame)));
        if (grown == nullptr)
            return false;
        frames_ = grown;
        frame_capacity_ *= 2;
    }
    ++top_;
    Frame& f = frames_[top_];
    f.serial = next_serial_++;
    f.chunk = chunks_;
    f.pos = pos_;
    f.in_use = in_use_;
    f.pending = nullptr;
    std::memset(f.heads, 0, sizeof f.heads);
    heads_ = f.heads;
    top_serial_ = f.serial;
    return true;
}

Snapshot Heap::snapshot() noexcept {
    if (!push_frame())
        return Snapshot{};
    ++snapshots_;
    return Snapshot{id_, top_serial_, top_};
}

RewindStatus Heap::rewind(const Snapshot& s) noexcept {
    if (s.heap_id == 0)
        return RewindStatus::never_taken;
    if (s.heap_id != id_)
        return RewindStatus::foreign;
    if (rewinding_)
        return RewindStatus::inside_cleanup;
    if (s.depth == 0 || s.depth > top_ || frames_[s.depth].serial != s.serial)
        return RewindStatus::stale;
    rewinding_ = true;
    if (in_use_ > high_water_)
        high_water_ = in_use_;

    // 1. Cleanups added since the snapshot, newest first, while all memory is still there.
    while (cleanups_ && cleanups_->gen >= s.serial) {
        Cleanup* c = cleanups_;
        cleanups_ = c->next;
        if (cleanups_)
            cleanups_->prev = nullptr;
        c->fn(c->arg);
    }
    const std::uint32_t k = s.depth; // cleanups may have pushed frames: re-read top_ below

    // 2. Blocks older than the snapshot that were freed since: live at the snapshot, dead now.
    std::size_t freed_older = 0;
    Block* carry = nullptr;
    for (std::uint32_t j = top_; j >= k; --j) {
        for (Block* b = frames_[j].pending; b;) {
            Block* next = HeapInternals::next_of(b);
            BlockHeader* h = header_of(b);
            px_track_unpoison(h, kHeader);
            if ((h->gen & ~kGenFlags) < s.serial) {
                freed_older += gross_of(h->size);
                px_track_unpoison(b, sizeof(Block));
                b->next = carry;
                px_track_poison(b, sizeof(Block));
                carry = b;
            }
            px_track_poison(h, kHeader);
            b = next;
        }
    }

    // 3. Memory allocated since the snapshot.
    std::size_t released_malloc = 0;
    while (MallocLink* m = malloc_blocks_) {
        auto* h = reinterpret_cast<BlockHeader*>(m + 1);
        px_track_unpoison(h, kHeader);
        bool newer = (h->gen & ~kGenFlags) >= s.serial;
        px_track_poison(h, kHeader);
        if (!newer)
            break;
        malloc_blocks_ = m->next;
        if (malloc_blocks_)
            malloc_blocks_->prev = nullptr;
        released_malloc += m->gross;
        detail::forget_malloc_block(m->raw);
    }
    while (large_ && large_->gen >= s.serial)
        HeapInternals::release_large(*this, large_);
    const Frame& f = frames_[k];
    while (chunks_ != f.chunk) {
        Chunk* c = chunks_;
        chunks_ = c->next;
        HeapInternals::put_chunk(*this, c);
    }
    pos_ = f.pos;
    end_ = chunks_ ? chunks_->accessible : nullptr;
    if (chunks_) {
        px_track_poison(pos_, static_cast<std::size_t>(chunks_->base + chunks_->size - pos_));
        if (options_.poison_rewound) {
            auto keep = reinterpret_cast<char*>(
                round_up(reinterpret_cast<std::uintptr_t>(pos_), detail::region_page_size()));
            detail::region_protect(keep, chunks_->accessible, false);
            if (keep < chunks_->accessible)
                chunks_->accessible = keep;
            end_ = chunks_->accessible;
        }
    }
    // A malloc'd block freed early was freed at once (never pending), so count down instead.
    if (in_use_ > high_water_) // cleanups may have allocated
        high_water_ = in_use_;
    in_use_ = options_.malloc_per_allocation ? in_use_ - released_malloc : f.in_use - freed_older;

    // 4. Pop the frames; hand the carried blocks to the frame that is innermost now.
    top_ = k - 1;
    heads_ = frames_[top_].heads;
    top_serial_ = frames_[top_].serial;
    while (carry) {
        Block* next = HeapInternals::next_of(carry);
        BlockHeader* h = header_of(carry);
        px_track_unpoison(h, kHeader);
        if ((h->gen & ~kGenFlags) == top_serial_)
            HeapInternals::reclaim(*this, h);
        else
            HeapInternals::defer(*this, h);
        px_track_poison(h, kHeader);
        carry = next;
    }
    ++rewinds_;
    rewinding_ = false;
    if (cached_bytes_ > options_.cache_bytes)
        trim(options_.cache_bytes);
    return RewindStatus::ok;
}

// ---- cleanups ----

Cleanup* Heap::add_cleanup(CleanupFn fn, void* arg) noexcept {
    auto* c = static_cast<Cleanup*>(alloc(sizeof(Cleanup)));
    if (c == nullptr)
        return nullptr;
    *c = Cleanup{nullptr, cleanups_, fn, arg, top_serial_};
    if (cleanups_)
        cleanups_->prev = c;
    cleanups_ = c;
    return c;
}

void Heap::cancel_cleanup(Cleanup* c) noexcept {
    if (c->prev)
        c->prev->next = c->next;
    else
        cleanups_ = c->next;
    if (c->next)
        c->next->prev = c->prev;
    free(c);
}

// ---- stats and trimming ----

HeapStats Heap::stats() const noexcept {
    HeapStats s;
    s.bytes_in_use = in_use_;
    s.high_water = in_use_ > high_water_ ? in_use_ : high_water_;
    s.chunk_bytes = chunk_bytes_;
    s.cached_bytes = cached_bytes_;
    s.chunks = chunk_count_;
    s.allocations = allocations_;
    s.frees = frees_;
    s.failed = failed_;
    s.snapshots = snapshots_;
    s.rewinds = rewinds_;
    s.depth = top_;
    return s;
}

void Heap::trim(std::size_t keep_bytes) noexcept {
    // Largest chunks go first: they free the most memory per system call.
    while (cached_bytes_ > keep_bytes && cache_) {
        Chunk** biggest = &cache_;
        for (Chunk** link = &cache_; *link; link = &(*link)->next)
            if ((*link)->size > (*biggest)->size)
                biggest = link;
        Chunk* c = *biggest;
        *biggest = c->next;
        cached_bytes_ -= c->size;
        detail::region_release(c->base, c->size);
        std::free(c);
    }
}

} // namespace px
