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
//  * bytes_held == held() == folded_ + (pos_ - mark_) + outside_, and bytes_in_use ==
//    held() - idle_. Bump allocation moves only pos_; every other path keeps idle_ and
//    outside_ in step. end_ never lets held() pass the limit.
#include <sys/mman.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <new>
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
    alignas(MallocRegistry) static unsigned char storage[sizeof(MallocRegistry)];
    static auto* r = new (storage) MallocRegistry; // never destroyed; first use cannot fail
    return *r;
}
} // namespace

} // namespace detail
} // namespace px

void* PxHeap_owner_of_malloc_block(const void* p) {
    using namespace px::detail;
    auto a = reinterpret_cast<std::uintptr_t>(p);
    MallocRegistry& r = malloc_registry();
    std::shared_lock lock(r.mu);
    auto it = r.blocks.upper_bound(a);
    if (it == r.blocks.begin())
        return nullptr;
    --it;
    return a < it->second.first ? it->second.second : nullptr;
}

namespace px {
namespace detail {

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
    char* accessible;  // end of the read-write part (all of it unless poison_rewound)
    Chunk* next;       // large_ list only
    Chunk* prev;       // large_ list only
    std::uint64_t gen; // large_ list only
    std::size_t gross; // large_ list only: what the block counts in bytes_held
};

struct Heap::Frame {
    std::uint64_t serial;
    std::uint32_t chunk_count; // bump chunks when the frame was pushed
    char* pos;
    std::size_t bumped; // folded_ + (pos_ - mark_) when the frame was pushed
    std::size_t idle;
    std::size_t chunk_bytes;
    std::size_t next_chunk_size; // so a repeated callback reuses the same chunks in order
    Block* pending;              // blocks of older frames freed while this frame was innermost
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
    limit_ = options.limit ? options.limit : SIZE_MAX;
    next_chunk_size_ = kFirstChunk;
    if (options_.malloc_per_allocation)
        std::atomic_ref<int>(PxHeap_region.malloc_heaps).fetch_add(1, std::memory_order_relaxed);
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
    auto release = [](Chunk* c) {
        detail::region_release(c->base, c->size);
        std::free(c);
    };
    for (std::uint32_t i = 0; i < chunk_count_; ++i)
        release(chunks_[i]);
    for (std::uint32_t i = 0; i < cache_count_; ++i)
        release(cache_[i]);
    while (Chunk* c = large_) {
        large_ = c->next;
        release(c);
    }
    std::free(chunks_);
    std::free(cache_);
    std::free(frames_);
    if (options_.malloc_per_allocation)
        std::atomic_ref<int>(PxHeap_region.malloc_heaps).fetch_sub(1, std::memory_order_relaxed);
}

// ---- chunks ----

struct HeapInternals {
    static bool reserve(Heap::Chunk**& array, std::uint32_t& capacity, std::uint32_t need) {
        if (need <= capacity)
            return true;
        std::uint32_t grown = capacity ? capacity * 2 : 16;
        while (grown < need)
            grown *= 2;
        auto* p = static_cast<Heap::Chunk**>(std::realloc(array, grown * sizeof(Heap::Chunk*)));
        if (p == nullptr)
            return false;
        array = p;
        capacity = grown;
        return true;
    }

    // A cached chunk of `need` to `at_most` bytes, or else a new one of `fresh` bytes from
    // the region; nullptr if neither can be had. The newest cached chunks are tried first:
    // they are the likeliest to be warm.
    static Heap::Chunk* get_chunk(Heap& h, std::size_t need, std::size_t at_most,
                                  std::size_t fresh) {
        for (std::uint32_t i = h.cache_count_; i-- > 0;) {
            Heap::Chunk* c = h.cache_[i];
            if (c->size >= need && c->size <= at_most) {
                h.cache_[i] = h.cache_[--h.cache_count_];
                h.cached_bytes_ -= c->size;
                if (h.options_.poison_rewound && c->accessible < c->base + c->size) {
                    detail::region_protect(c->accessible, c->base + c->size, true);
                    c->accessible = c->base + c->size;
                }
                return c;
            }
        }
        std::size_t size = round_up(fresh, detail::kGranule);
        char* base = detail::region_acquire(size, &h);
        if (base == nullptr)
            return nullptr;
        auto* c = static_cast<Heap::Chunk*>(std::malloc(sizeof(Heap::Chunk)));
        if (c == nullptr) {
            detail::region_release(base, size);
            return nullptr;
        }
        *c = Heap::Chunk{base, size, base + size, nullptr, nullptr, 0, 0};
        px_track_poison(base, size);
        return c;
    }

    // Makes a chunk inaccessible to the tools (and to the CPU in poison mode). The cache
    // itself is updated by the caller.
    static void retire(Heap& h, Heap::Chunk* c) {
        px_track_poison(c->base, c->size);
        if (h.options_.poison_rewound) {
            detail::region_protect(c->base, c->accessible, false);
            c->accessible = c->base;
        }
    }

    static void cache_chunk(Heap& h, Heap::Chunk* c) {
        retire(h, c);
        if (!reserve(h.cache_, h.cache_capacity_, h.cache_count_ + 1)) {
            detail::region_release(c->base, c->size);
            std::free(c);
            return;
        }
        h.cache_[h.cache_count_++] = c;
        h.cached_bytes_ += c->size;
    }

    // Makes room for `need` more bytes at pos_, in this chunk or a new one.
    static bool grow(Heap& h, std::size_t need) {
        if (h.chunk_count_ > 0 && h.options_.poison_rewound) {
            Heap::Chunk* cur = h.chunks_[h.chunk_count_ - 1];
            char* full = cur->base + cur->size;
            if (static_cast<std::size_t>(full - h.pos_) >= need) {
                char* want = h.pos_ + need + detail::kGranule;
                char* to = want < full ? want : full;
                to = reinterpret_cast<char*>(
                    round_up(reinterpret_cast<std::uintptr_t>(to), detail::region_page_size()));
                if (to > cur->accessible) {
                    detail::region_protect(cur->accessible, to, true);
                    cur->accessible = to;
                }
                return true;
            }
        }
        if (!reserve(h.chunks_, h.chunk_capacity_, h.chunk_count_ + 1))
            return false;
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
        h.chunks_[h.chunk_count_++] = c;
        h.chunk_bytes_ += c->size;
        h.folded_ += static_cast<std::size_t>(h.pos_ - h.mark_); // the old tail is not held
        h.pos_ = h.mark_ = c->base;
        return true;
    }

    static void release_large(Heap& h, Heap::Chunk* c) {
        if (c->prev)
            c->prev->next = c->next;
        else
            h.large_ = c->next;
        if (c->next)
            c->next->prev = c->prev;
        --h.large_count_;
        h.large_bytes_ -= c->size;
        cache_chunk(h, c);
    }

    // Puts a freed small or medium block of the innermost frame on its free list.
    static void push_free(Heap& h, BlockHeader* hdr) {
        hdr->gen = h.top_serial_ | kGenFreed;
        auto* b = reinterpret_cast<Heap::Block*>(hdr + 1);
        unsigned cls = size_class(hdr->size);
        px_track_unpoison(b, sizeof(Heap::Block));
        b->next = h.heads_[cls];
        px_track_poison(b, sizeof(Heap::Block));
        h.heads_[cls] = b;
    }

    static Heap::Chunk* large_chunk_of(BlockHeader* hdr) {
        px_track_unpoison(hdr - 1, kHeader);
        Heap::Chunk* c = *reinterpret_cast<Heap::Chunk**>(hdr - 1);
        px_track_poison(hdr - 1, kHeader);
        return c;
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

    static void note_peak(Heap& h) {
        std::size_t held = h.held();
        if (held > h.high_water_)
            h.high_water_ = held;
    }
};

// end_ = the current chunk's usable end, or less when the limit leaves less headroom.
void Heap::set_end() noexcept {
    if (chunk_count_ == 0) {
        end_ = pos_;
        return;
    }
    char* end = chunks_[chunk_count_ - 1]->accessible;
    if (limit_ != SIZE_MAX) {
        std::size_t held_now = held();
        std::size_t room = limit_ > held_now ? limit_ - held_now : 0;
        if (room < static_cast<std::size_t>(end - pos_))
            end = pos_ + room;
    }
    end_ = end;
}

void Heap::set_limit(std::size_t bytes) noexcept {
    limit_ = bytes ? bytes : SIZE_MAX;
    set_end();
}

// ---- allocation ----

void* Heap::alloc_slow(std::size_t size, std::size_t alignment) noexcept {
    if (alignment == 0 || (alignment & (alignment - 1)) != 0 || alignment > kMaxAlign ||
        size > (SIZE_MAX >> 2)) {
        ++failed_;
        return nullptr;
    }
    if (alignment < 16)
        alignment = 16;
    std::size_t gross = gross_of(size);
    char* p = nullptr;
    std::uint64_t flags = 0;
    if (options_.malloc_per_allocation) {
        if (held() + gross > limit_) {
            ++failed_;
            return nullptr;
        }
        std::size_t prefix = round_up(sizeof(MallocLink) + kHeader, alignment);
        void* raw = nullptr;
        if (posix_memalign(&raw, alignment, prefix + (size ? size : 1)) != 0) {
            ++failed_;
            return nullptr;
        }
        p = static_cast<char*>(raw) + prefix;
        auto& r = detail::malloc_registry();
        try {
            std::unique_lock lock(r.mu);
            r.blocks[reinterpret_cast<std::uintptr_t>(raw)] = {
                reinterpret_cast<std::uintptr_t>(p + (size ? size : 1)), this};
        } catch (const std::bad_alloc&) { // the registry could not grow
            std::free(raw);
            ++failed_;
            return nullptr;
        }
        auto* m = reinterpret_cast<MallocLink*>(p - kHeader) - 1;
        *m = MallocLink{nullptr, malloc_blocks_, raw, gross};
        if (malloc_blocks_)
            malloc_blocks_->prev = m;
        malloc_blocks_ = m;
        outside_ += gross;
        flags = kGenMalloc;
    } else if (size > kMediumMax) {
        if (held() + gross > limit_) {
            ++failed_;
            return nullptr;
        }
        std::size_t offset = alignment > 2 * kHeader ? alignment : 2 * kHeader;
        std::size_t need = round_up(offset + size, 16);
        Chunk* c =
            HeapInternals::get_chunk(*this, need, 2 * round_up(need, detail::kGranule), need);
        if (c == nullptr) {
            ++failed_;
            return nullptr;
        }
        c->gen = top_serial_;
        c->gross = gross;
        c->prev = nullptr;
        c->next = large_;
        if (large_)
            large_->prev = c;
        large_ = c;
        ++large_count_;
        large_bytes_ += c->size;
        outside_ += gross;
        p = c->base + offset;
        px_track_unpoison(p - 2 * kHeader, kHeader);
        *reinterpret_cast<Chunk**>(p - 2 * kHeader) = c;
        px_track_poison(p - 2 * kHeader, kHeader);
        flags = kGenLarge;
        set_end(); // less headroom is left for bump allocation
    } else {
        unsigned cls = size_class(size);
        std::size_t block = kHeader + class_size(cls);
        if (alignment == 16 && heads_[cls] != nullptr) {
            Block* b = heads_[cls];
            heads_[cls] = HeapInternals::next_of(b);
            p = reinterpret_cast<char*>(b);
            idle_ -= block;
        } else {
            // Pad so that the block after the header is aligned.
            auto pad = [&] {
                auto at = reinterpret_cast<std::uintptr_t>(pos_) + kHeader;
                return round_up(at, alignment) - at;
            };
            // The limit counts the padding too; alignment - 16 bounds it in any chunk.
            if (held() + pad() + block > limit_) {
                ++failed_;
                return nullptr;
            }
            char* chunk_end = chunk_count_ ? chunks_[chunk_count_ - 1]->accessible : pos_;
            if (static_cast<std::size_t>(chunk_end - pos_) < pad() + block) {
                if (!HeapInternals::grow(*this, block + alignment - 16) ||
                    held() + pad() + block > limit_) {
                    set_end();
                    ++failed_;
                    return nullptr;
                }
            }
            std::size_t padding = pad();
            idle_ += padding;
            p = pos_ + padding + kHeader;
            pos_ = p + class_size(cls);
            set_end();
        }
    }
    auto* h = header_of(p);
    px_track_unpoison(h, kHeader);
    h->size = size;
    h->gen = top_serial_ | flags;
    px_track_poison(h, kHeader);
    ++allocations_;
    px_track_alloc(p, size);
    return p;
}

void* Heap::alloc_aligned(std::size_t size, std::size_t alignment) noexcept {
    if (alignment != 0 && alignment <= 16 && (alignment & (alignment - 1)) == 0 &&
        !options_.malloc_per_allocation)
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
    if (gen & kGenMalloc) {
        // No reuse, so no hazard: a malloc'd block is freed at once whatever its frame.
        px_track_poison(h, kHeader);
        HeapInternals::note_peak(*this);
        outside_ -= gross;
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
    if ((gen & ~kGenFlags) != top_serial_) {
        // Older than the innermost snapshot: reusable only once that snapshot is rewound.
        h->gen = gen | kGenFreed;
        HeapInternals::defer(*this, h);
        idle_ += gross;
    } else if (gen & kGenLarge) {
        HeapInternals::note_peak(*this);
        outside_ -= gross;
        HeapInternals::release_large(*this, HeapInternals::large_chunk_of(h));
        if (cached_bytes_ > options_.cache_bytes)
            trim(options_.cache_bytes);
        return; // the header went with the chunk
    } else {
        HeapInternals::push_free(*this, h);
        idle_ += gross;
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
    // Same size class and frame: resize in place. A block of an older frame always moves,
    // so what the caller gets back is, like any new block, released by the next rewind.
    if (!(gen & (kGenLarge | kGenMalloc)) && size <= kMediumMax && old <= kMediumMax &&
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
    f.chunk_count = chunk_count_;
    f.pos = pos_;
    f.bumped = folded_ + static_cast<std::size_t>(pos_ - mark_);
    f.idle = idle_;
    f.chunk_bytes = chunk_bytes_;
    f.next_chunk_size = next_chunk_size_;
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

RewindStatus Heap::rewind(Snapshot s) noexcept {
    if (s.heap_id == 0)
        return RewindStatus::never_taken;
    if (s.heap_id != id_)
        return RewindStatus::foreign;
    if (rewinding_)
        return RewindStatus::inside_cleanup;
    if (s.depth == 0 || s.depth > top_ || frames_[s.depth].serial != s.serial)
        return RewindStatus::stale;
    rewinding_ = true;

    // 1. Cleanups added since the snapshot, newest first, while all memory is still there.
    while (cleanups_ && cleanups_->gen >= s.serial) {
        Cleanup* c = cleanups_;
        cleanups_ = c->next;
        if (cleanups_)
            cleanups_->prev = nullptr;
        c->fn(c->arg);
    }
    HeapInternals::note_peak(*this); // the peak is now: from here on only release
    const std::uint32_t k = s.depth; // cleanups may have pushed frames: read top_ only now

    // 2. Blocks older than the snapshot that were freed since: live at the snapshot, idle
    //    once it is restored.
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
        outside_ -= m->gross;
        detail::forget_malloc_block(m->raw);
    }
    while (large_ && large_->gen >= s.serial) {
        outside_ -= large_->gross;
        HeapInternals::release_large(*this, large_);
    }
    const Frame& f = frames_[k];
    std::uint32_t released = chunk_count_ - f.chunk_count;
    if (released > 0) {
        if (PX_TRACKING || options_.poison_rewound) {
            for (std::uint32_t i = f.chunk_count; i < chunk_count_; ++i)
                HeapInternals::retire(*this, chunks_[i]);
        }
        if (HeapInternals::reserve(cache_, cache_capacity_, cache_count_ + released)) {
            std::memcpy(cache_ + cache_count_, chunks_ + f.chunk_count, released * sizeof(Chunk*));
            cache_count_ += released;
            cached_bytes_ += chunk_bytes_ - f.chunk_bytes;
        } else {
            for (std::uint32_t i = f.chunk_count; i < chunk_count_; ++i) {
                detail::region_release(chunks_[i]->base, chunks_[i]->size);
                std::free(chunks_[i]);
            }
        }
        chunk_count_ = f.chunk_count;
        chunk_bytes_ = f.chunk_bytes;
        next_chunk_size_ = f.next_chunk_size;
    }
    pos_ = mark_ = f.pos;
    folded_ = f.bumped;
    if (chunk_count_ > 0) {
        Chunk* cur = chunks_[chunk_count_ - 1];
        px_track_poison(pos_, static_cast<std::size_t>(cur->base + cur->size - pos_));
        if (options_.poison_rewound) {
            auto keep = reinterpret_cast<char*>(
                round_up(reinterpret_cast<std::uintptr_t>(pos_), detail::region_page_size()));
            if (keep < cur->accessible) {
                detail::region_protect(keep, cur->accessible, false);
                cur->accessible = keep;
            }
        }
    }
    idle_ = f.idle + freed_older;

    // 4. Pop the frames; hand the carried blocks to the frame that is innermost now.
    top_ = k - 1;
    heads_ = frames_[top_].heads;
    top_serial_ = frames_[top_].serial;
    while (carry) {
        Block* next = HeapInternals::next_of(carry);
        BlockHeader* h = header_of(carry);
        px_track_unpoison(h, kHeader);
        if ((h->gen & ~kGenFlags) != top_serial_) {
            HeapInternals::defer(*this, h);
        } else if (h->gen & kGenLarge) {
            std::size_t gross = gross_of(h->size);
            outside_ -= gross;
            idle_ -= gross;
            HeapInternals::release_large(*this, HeapInternals::large_chunk_of(h));
            carry = next;
            continue; // the header went with the chunk
        } else {
            HeapInternals::push_free(*this, h);
        }
        px_track_poison(h, kHeader);
        carry = next;
    }
    set_end();
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
    std::size_t held_now = held();
    s.bytes_in_use = held_now - idle_;
    s.bytes_held = held_now;
    s.high_water = held_now > high_water_ ? held_now : high_water_;
    s.chunk_bytes = chunk_bytes_ + large_bytes_;
    s.cached_bytes = cached_bytes_;
    s.chunks = chunk_count_ + large_count_;
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
    while (cached_bytes_ > keep_bytes && cache_count_ > 0) {
        std::uint32_t biggest = 0;
        for (std::uint32_t i = 1; i < cache_count_; ++i)
            if (cache_[i]->size > cache_[biggest]->size)
                biggest = i;
        Chunk* c = cache_[biggest];
        cache_[biggest] = cache_[--cache_count_];
        cached_bytes_ -= c->size;
        detail::region_release(c->base, c->size);
        std::free(c);
    }
}

} // namespace px
