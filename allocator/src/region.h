// region.h — the one virtual-address region every context heap lives in (private).
//
// The region is reserved once (PROT_NONE, no swap reservation) and cut into 64 KiB granules.
// A chunk is a run of granules handed to one heap; the chunk table maps each granule to its
// heap, which is what makes owner_of() O(1). Chunk hand-out takes a mutex: it is rare (heaps
// cache their chunks), and owner_of() never takes it.
#pragma once

#include <cstddef>

namespace px {
class Heap;
namespace detail {

constexpr unsigned kGranuleShift = 16;
constexpr std::size_t kGranule = std::size_t{1} << kGranuleShift;

// Maps [*bytes rounded up to granules*] read-write and records `owner`; nullptr when the
// region is exhausted or cannot be reserved. The memory reads as zero on first use.
char* region_acquire(std::size_t bytes, Heap* owner) noexcept;
// Returns the memory to the OS and the granules to the region.
void region_release(char* base, std::size_t bytes) noexcept;
// Makes part of a chunk inaccessible or accessible again (poison mode).
void region_protect(char* from, char* to, bool accessible) noexcept;
std::size_t region_page_size() noexcept;

} // namespace detail
} // namespace px
