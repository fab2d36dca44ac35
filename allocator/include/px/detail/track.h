// px/detail/track.h — one macro set for telling a memory checker what the heap does.
//
// The heap never names a tool: it says "these bytes were allocated" (px_track_alloc), "freed"
// (px_track_free), "must not be touched" (px_track_poison) or "may be touched by the heap
// itself" (px_track_unpoison). The build picks what that means:
//   PX_TRACK_ASAN      ASan manual poisoning (8-byte granules; a partial tail is exact)
//   PX_TRACK_VALGRIND  Memcheck client requests (NOACCESS / UNDEFINED / DEFINED)
//   neither            nothing: every macro compiles away
#pragma once

#if defined(PX_TRACK_ASAN) && PX_TRACK_ASAN
#include <sanitizer/asan_interface.h>
#define PX_TRACKING 1
#define px_track_alloc(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#define px_track_free(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define px_track_poison(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define px_track_unpoison(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#elif defined(PX_TRACK_VALGRIND) && PX_TRACK_VALGRIND
#include <valgrind/memcheck.h>
#define PX_TRACKING 1
#define px_track_alloc(p, n) ((void)VALGRIND_MAKE_MEM_UNDEFINED((p), (n)))
#define px_track_free(p, n) ((void)VALGRIND_MAKE_MEM_NOACCESS((p), (n)))
#define px_track_poison(p, n) ((void)VALGRIND_MAKE_MEM_NOACCESS((p), (n)))
#define px_track_unpoison(p, n) ((void)VALGRIND_MAKE_MEM_DEFINED((p), (n)))
#else
#define PX_TRACKING 0
#define px_track_alloc(p, n) ((void)(p), (void)(n))
#define px_track_free(p, n) ((void)(p), (void)(n))
#define px_track_poison(p, n) ((void)(p), (void)(n))
#define px_track_unpoison(p, n) ((void)(p), (void)(n))
#endif
