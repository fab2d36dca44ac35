// region.cpp — reserving the context region and handing out chunks of it.
//
// All OS calls of the allocator are here. The region is reserved lazily, on the first chunk,
// with PROT_NONE and MAP_NORESERVE: reserving costs address space, not memory. Its size is
// 64 GiB unless PX_REGION_GIB says otherwise (1 .. 1024).
#include "region.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <iterator>
#include <map>
#include <mutex>
#include <new>

#include "assert.h"
#include "px/heap.h"

PxHeap_RegionView PxHeap_region;

namespace px::detail {

namespace {

struct Slots {
    std::mutex mu;
    bool tried = false;
    std::uintptr_t base = 0;
    std::size_t granules = 0;
    std::size_t fresh = 0;                    // granules never handed out start here
    std::map<std::size_t, std::size_t> free_; // start granule -> count, coalesced
};

Slots& slots() {
    // Never destroyed (heaps may outlive static destructors), and built in static storage
    // so that first use cannot fail.
    alignas(Slots) static unsigned char storage[sizeof(Slots)];
    static Slots* s = new (storage) Slots;
    return *s;
}

bool reserve_locked(Slots& s) {
    if (s.tried)
        return s.base != 0;
    s.tried = true;
    std::size_t gib = 64;
    if (const char* env = std::getenv("PX_REGION_GIB")) {
        long v = std::strtol(env, nullptr, 10);
        if (v >= 1 && v <= 1024)
            gib = static_cast<std::size_t>(v);
    }
    std::size_t bytes = gib << 30;
    void* raw = mmap(nullptr, bytes + kGranule, PROT_NONE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (raw == MAP_FAILED)
        return false;
    std::uintptr_t base =
        (reinterpret_cast<std::uintptr_t>(raw) + kGranule - 1) & ~(std::uintptr_t{kGranule} - 1);
    std::size_t granules = bytes >> kGranuleShift;
    void* table = mmap(nullptr, granules * sizeof(std::atomic<Heap*>), PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (table == MAP_FAILED) {
        munmap(raw, bytes + kGranule);
        return false;
    }
    s.base = base;
    s.granules = granules;
    // Zero-filled pages are valid null atomics on every platform we build for.
    std::atomic_ref<void*>(PxHeap_region.table).store(table, std::memory_order_relaxed);
    std::atomic_ref<std::uintptr_t>(PxHeap_region.base).store(base, std::memory_order_relaxed);
    std::atomic_ref<std::uintptr_t>(PxHeap_region.size).store(bytes, std::memory_order_release);
    return true;
}

void set_owner(std::size_t first, std::size_t count, Heap* owner) {
    std::atomic<Heap*>* table = region_table();
    for (std::size_t i = first; i < first + count; ++i)
        table[i].store(owner, std::memory_order_relaxed);
}

// Records [first, first + count) as free, merged with its neighbours. May throw bad_alloc.
void insert_free_run(Slots& s, std::size_t first, std::size_t count);

} // namespace

} // namespace px::detail

bool px::reserve_region() noexcept {
    detail::Slots& s = detail::slots();
    std::lock_guard lock(s.mu);
    return detail::reserve_locked(s);
}

namespace px::detail {

char* region_acquire(std::size_t bytes, Heap* owner) noexcept {
    std::size_t count = (bytes + kGranule - 1) >> kGranuleShift;
    Slots& s = slots();
    std::size_t first = 0;
    {
        std::lock_guard lock(s.mu);
        if (!reserve_locked(s))
            return nullptr;
        // First fit among returned runs keeps the region compact; fresh granules otherwise.
        // The chunk comes off the run's end, so what is left keeps its key and no node is
        // allocated here (this function must not throw).
        auto it = s.free_.begin();
        while (it != s.free_.end() && it->second < count)
            ++it;
        if (it != s.free_.end()) {
            it->second -= count;
            first = it->first + it->second;
            if (it->second == 0)
                s.free_.erase(it);
        } else if (s.granules - s.fresh >= count) {
            first = s.fresh;
            s.fresh += count;
        } else {
            return nullptr;
        }
        set_owner(first, count, owner);
    }
    char* p = reinterpret_cast<char*>(s.base + (first << kGranuleShift));
    if (mprotect(p, count << kGranuleShift, PROT_READ | PROT_WRITE) != 0) {
        region_release(p, count << kGranuleShift);
        return nullptr;
    }
    return p;
}

void region_release(char* base, std::size_t bytes) noexcept {
    std::size_t count = (bytes + kGranule - 1) >> kGranuleShift;
    std::size_t len = count << kGranuleShift;
    // Give the pages back and make any dangling pointer into them fault.
    madvise(base, len, MADV_DONTNEED);
    mprotect(base, len, PROT_NONE);
    Slots& s = slots();
    std::lock_guard lock(s.mu);
    std::size_t first = (reinterpret_cast<std::uintptr_t>(base) - s.base) >> kGranuleShift;
    PX_ASSERT(first + count <= s.fresh);
    set_owner(first, count, nullptr);
    try {
        insert_free_run(s, first, count);
    } catch (const std::bad_alloc&) {
        // No memory for the index: these granules stay out of use (their pages are already
        // returned), which costs address space only.
    }
}

namespace {
void insert_free_run(Slots& s, std::size_t first, std::size_t count) {
    auto next = s.free_.lower_bound(first);
    if (next != s.free_.end() && next->first == first + count) {
        count += next->second;
        next = s.free_.erase(next);
    }
    if (next != s.free_.begin()) {
        auto prev = std::prev(next);
        if (prev->first + prev->second == first) {
            prev->second += count;
            return;
        }
    }
    s.free_.emplace(first, count);
}
} // namespace

void region_protect(char* from, char* to, bool accessible) noexcept {
    if (to > from)
        mprotect(from, static_cast<std::size_t>(to - from),
                 accessible ? PROT_READ | PROT_WRITE : PROT_NONE);
}

std::size_t region_page_size() noexcept {
    static const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    return page;
}

} // namespace px::detail
