// rewind_count.cpp — one rewind, for callgrind to count its instructions.
//
//     PX_REGION_GIB=1 valgrind --tool=callgrind --collect-atstart=no --instr-atstart=no
//         build/release/bench/px_rewind_count <objects> [first|repeat]     (one command)
//
// Fills a heap with <objects> 32-byte objects since a snapshot, then rewinds to it once.
// Only that rewind runs instrumented (client requests around it), so callgrind's total is the
// instructions of the rewind alone, whatever the fill cost. bench/rewind_instructions.sh runs
// it for 10 and 10^6 objects and compares the two.
//
//   repeat (default)  the steady state of a context: one fill and rewind of the same size runs
//                     first, uncounted, so the counted fill reuses cached chunks, as every
//                     callback but a context's first does;
//   first             a fresh heap's first rewind, which also grows the chunk cache's array.
//
// As in px_bench, the heap holds one block before the snapshot (the context's own state), so a
// small fill stays in the chunk already open. The cache is large enough (1 GiB) that no rewind
// returns memory to the OS: system calls would not show in an instruction count anyway.
#include <valgrind/callgrind.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "px/heap.h"

namespace {

constexpr std::size_t kObjectSize = 32;

bool fill(px::Heap& heap, unsigned long objects) {
    for (unsigned long i = 0; i < objects; ++i) {
        auto* volatile p = static_cast<char*>(heap.alloc(kObjectSize));
        if (p == nullptr)
            return false;
        *p = static_cast<char>(i);
    }
    return true;
}

} // namespace

int main(int argc, char** argv) {
    char* end = nullptr;
    const unsigned long objects = argc >= 2 ? std::strtoul(argv[1], &end, 10) : 0;
    const bool first = argc == 3 && std::strcmp(argv[2], "first") == 0;
    if (argc < 2 || argc > 3 || *end != '\0' ||
        (argc == 3 && !first && std::strcmp(argv[2], "repeat") != 0)) {
        std::fprintf(stderr, "usage: %s <objects> [first|repeat]\n", argv[0]);
        return 2;
    }
    px::Heap heap(px::HeapOptions{.cache_bytes = std::size_t{1} << 30});
    if (heap.alloc(64) == nullptr) {
        std::fprintf(stderr, "rewind_count: the heap has no memory (set PX_REGION_GIB=1 under "
                             "valgrind)\n");
        return 1;
    }
    if (!first) {
        px::Snapshot warm = heap.snapshot();
        if (!fill(heap, objects) || heap.rewind(warm) != px::RewindStatus::ok) {
            std::fprintf(stderr, "rewind_count: the warm-up fill or rewind failed\n");
            return 1;
        }
    }
    px::Snapshot snap = heap.snapshot();
    if (!fill(heap, objects)) {
        std::fprintf(stderr, "rewind_count: allocation failed\n");
        return 1;
    }
    const std::size_t chunks = heap.stats().chunks;

    CALLGRIND_START_INSTRUMENTATION;
    CALLGRIND_TOGGLE_COLLECT;
    const px::RewindStatus status = heap.rewind(snap);
    CALLGRIND_TOGGLE_COLLECT;
    CALLGRIND_STOP_INSTRUMENTATION;

    if (status != px::RewindStatus::ok) {
        std::fprintf(stderr, "rewind_count: %s\n", px::describe(status));
        return 1;
    }
    std::printf("objects %lu chunks_released %zu mode %s\n", objects, chunks - heap.stats().chunks,
                first ? "first" : "repeat");
    return 0;
}
