# Build flags shared by every pxkit target.
#
# Two mechanisms, on purpose:
#  * Instrumentation (sanitizers, fuzzer coverage, gcov) is applied to the whole tree with
#    add_compile_options/add_link_options: every object file and every link, tests and tools
#    included, must agree, or a sanitizer misses accesses and links fail.
#  * px_build_flags is an INTERFACE target carrying what our own code reads: the PX_TRACK_*
#    and PX_ASSERT_LEVEL definitions and the warning set. Every library links it PUBLIC, so a
#    test that includes a public header sees the same definitions as the library it tests
#    (inline code in headers depends on them).

# ---- validate ---------------------------------------------------------------------------------
if(NOT PX_SANITIZE MATCHES "^(none|asan|tsan)$")
    message(FATAL_ERROR "PX_SANITIZE must be none, asan or tsan (got '${PX_SANITIZE}')")
endif()
if(NOT PX_TRACK MATCHES "^(none|asan|valgrind)$")
    message(FATAL_ERROR "PX_TRACK must be none, asan or valgrind (got '${PX_TRACK}')")
endif()
if(NOT PX_ASSERT_LEVEL MATCHES "^[012]$")
    message(FATAL_ERROR "PX_ASSERT_LEVEL must be 0, 1 or 2 (got '${PX_ASSERT_LEVEL}')")
endif()
if(PX_TRACK STREQUAL "asan" AND NOT PX_SANITIZE STREQUAL "asan")
    message(FATAL_ERROR "PX_TRACK=asan poisons through the ASan runtime: it needs PX_SANITIZE=asan")
endif()
if(PX_TRACK STREQUAL "valgrind" AND NOT PX_SANITIZE STREQUAL "none")
    message(FATAL_ERROR "PX_TRACK=valgrind runs under Valgrind, which cannot host a sanitizer runtime")
endif()
if(PX_FUZZ AND NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "PX_FUZZ=ON needs clang (libFuzzer); use the 'fuzz' preset")
endif()
if(PX_FUZZ AND PX_SANITIZE STREQUAL "tsan")
    message(FATAL_ERROR "PX_FUZZ=ON is built with ASan+UBSan, not TSan")
endif()
if(PX_COVERAGE AND NOT PX_SANITIZE STREQUAL "none")
    message(FATAL_ERROR "PX_COVERAGE=ON is a plain build; do not combine it with a sanitizer")
endif()

# ---- whole-tree instrumentation ------------------------------------------------------------------
if(PX_SANITIZE STREQUAL "asan")
    set(_px_san -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
    add_compile_options(${_px_san})
    add_link_options(${_px_san})
elseif(PX_SANITIZE STREQUAL "tsan")
    # Frame pointers are not required by TSan but make its two-stack reports readable.
    add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
    add_link_options(-fsanitize=thread)
endif()

if(PX_FUZZ)
    # Coverage feedback for libFuzzer in everything; only fuzz targets link the driver
    # (-fsanitize=fuzzer, added by px_add_fuzzer).
    add_compile_options(-fsanitize=fuzzer-no-link)
    add_link_options(-fsanitize=fuzzer-no-link)
endif()

if(PX_COVERAGE)
    # -O0 comes after the build type's flags on the command line, so it wins. The counters
    # are updated atomically: the stress tests run the heap on several threads at once, and
    # plain increments lose updates and even leave negative branch counts, which gcovr
    # rejects as a parse error.
    add_compile_options(--coverage -O0 -fprofile-update=atomic)
    add_link_options(--coverage)
endif()

# ---- px_build_flags -----------------------------------------------------------------------
add_library(px_build_flags INTERFACE)
add_library(px::build_flags ALIAS px_build_flags)

target_compile_definitions(px_build_flags INTERFACE PX_ASSERT_LEVEL=${PX_ASSERT_LEVEL})
if(PX_TRACK STREQUAL "asan")
    target_compile_definitions(px_build_flags INTERFACE PX_TRACK_ASAN=1)
elseif(PX_TRACK STREQUAL "valgrind")
    find_path(PX_VALGRIND_INCLUDE_DIR valgrind/memcheck.h)
    if(NOT PX_VALGRIND_INCLUDE_DIR)
        message(FATAL_ERROR "PX_TRACK=valgrind needs valgrind/memcheck.h (Debian package valgrind)")
    endif()
    target_compile_definitions(px_build_flags INTERFACE PX_TRACK_VALGRIND=1)
    target_include_directories(px_build_flags SYSTEM INTERFACE "${PX_VALGRIND_INCLUDE_DIR}")
endif()

target_compile_options(px_build_flags INTERFACE -Wall -Wextra -Wpedantic)
if(PX_WERROR)
    target_compile_options(px_build_flags INTERFACE -Werror)
endif()
