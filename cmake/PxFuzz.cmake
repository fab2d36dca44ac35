# px_add_fuzzer(<name> SOURCES <file>... [LINK <target>...] [CORPUS <dir>])
#
# One fuzz target, a source defining LLVMFuzzerTestOneInput (and, optionally,
# LLVMFuzzerInitialize). The executable always lands in <build>/fuzz/<name>.
#
#  * PX_FUZZ=ON (the 'fuzz' preset, clang): linked with libFuzzer (-fsanitize=fuzzer).
#  * PX_FUZZ=OFF (every other preset, gcc included): linked with a small replay driver
#    (cmake/px_fuzz_replay.cpp) that runs each input once, so corpora replay under gcov,
#    TSan and plain builds too.
#
# Either way a ctest entry "<name>.corpus" (label "fuzz") replays the seed corpus,
# by default fuzz/corpus/<name>/. scripts/test.sh also runs each target listed in
# fuzz/targets.txt for a fixed time in the fuzz build. A dictionary, when one exists, is
# fuzz/dictionaries/<name>.dict.

# gcc has no <fuzzer/FuzzedDataProvider.h>. It is a single self-contained header shipped with
# clang; copy it from the installed toolchain into the build tree rather than putting clang's
# whole resource directory (which shadows gcc's own stddef.h and friends) on the include path.
set(PX_FUZZ_INCLUDE_DIR "")
if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    file(GLOB _px_fdp_candidates
        /usr/lib/llvm-*/lib/clang/*/include/fuzzer/FuzzedDataProvider.h)
    if(_px_fdp_candidates)
        list(SORT _px_fdp_candidates COMPARE NATURAL ORDER DESCENDING)
        list(GET _px_fdp_candidates 0 _px_fdp)
        set(PX_FUZZ_INCLUDE_DIR "${PROJECT_BINARY_DIR}/px_fuzz_include")
        configure_file("${_px_fdp}" "${PX_FUZZ_INCLUDE_DIR}/fuzzer/FuzzedDataProvider.h" COPYONLY)
    endif()
endif()

function(px_add_fuzzer name)
    cmake_parse_arguments(PARSE_ARGV 1 arg "" "CORPUS" "SOURCES;LINK")
    if(NOT arg_SOURCES)
        message(FATAL_ERROR "px_add_fuzzer(${name}): SOURCES is required")
    endif()
    if(NOT arg_CORPUS)
        set(arg_CORPUS "${PROJECT_SOURCE_DIR}/fuzz/corpus/${name}")
    endif()

    add_executable(${name} ${arg_SOURCES})
    target_link_libraries(${name} PRIVATE ${arg_LINK} px_build_flags)
    set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY "${PROJECT_BINARY_DIR}/fuzz")
    if(PX_FUZZ_INCLUDE_DIR)
        target_include_directories(${name} SYSTEM PRIVATE "${PX_FUZZ_INCLUDE_DIR}")
    endif()

    if(PX_FUZZ)
        target_link_options(${name} PRIVATE -fsanitize=fuzzer)
        set(_replay_args -runs=0)   # load and run the corpus, then stop without mutating
    else()
        target_sources(${name} PRIVATE "${PROJECT_SOURCE_DIR}/cmake/px_fuzz_replay.cpp")
        set(_replay_args)
    endif()

    if(IS_DIRECTORY "${arg_CORPUS}")
        list(APPEND _replay_args "${arg_CORPUS}")
    endif()
    add_test(NAME ${name}.corpus COMMAND ${name} ${_replay_args})
    set_tests_properties(${name}.corpus PROPERTIES LABELS fuzz)
endfunction()
