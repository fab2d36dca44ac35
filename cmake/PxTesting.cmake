# Helpers for unit tests and benchmarks. Both find their package on first use, so a tree
# without tests/ or bench/ does not need GoogleTest or Google Benchmark installed.
#
#   px_add_gtest(<name> SOURCES <file>... [LINK <target>...] [LABELS <label>...] [GMOCK])
#       An executable linked with GTest::gtest_main (and GTest::gmock with GMOCK). Each TEST
#       becomes its own ctest entry, labelled "unit" plus LABELS. Discovery runs when ctest
#       starts (PRE_TEST), so a build never executes freshly built sanitizer binaries.
#
#   px_add_benchmark(<name> SOURCES <file>... [LINK <target>...] [SMOKE])
#       An executable linked with benchmark::benchmark_main. SMOKE adds a ctest entry
#       (label "bench") that runs every benchmark once, briefly, to keep them from rotting.

include(GoogleTest)

function(px_add_gtest name)
    cmake_parse_arguments(PARSE_ARGV 1 arg "GMOCK" "" "SOURCES;LINK;LABELS")
    if(NOT arg_SOURCES)
        message(FATAL_ERROR "px_add_gtest(${name}): SOURCES is required")
    endif()
    find_package(GTest REQUIRED)
    add_executable(${name} ${arg_SOURCES})
    target_link_libraries(${name} PRIVATE ${arg_LINK} px_build_flags GTest::gtest_main)
    if(arg_GMOCK)
        target_link_libraries(${name} PRIVATE GTest::gmock)
    endif()
    gtest_discover_tests(${name}
        DISCOVERY_MODE PRE_TEST
        DISCOVERY_TIMEOUT 60
        PROPERTIES LABELS "unit;${arg_LABELS}")
endfunction()

function(px_add_benchmark name)
    cmake_parse_arguments(PARSE_ARGV 1 arg "SMOKE" "" "SOURCES;LINK")
    if(NOT arg_SOURCES)
        message(FATAL_ERROR "px_add_benchmark(${name}): SOURCES is required")
    endif()
    find_package(benchmark REQUIRED)
    add_executable(${name} ${arg_SOURCES})
    target_link_libraries(${name} PRIVATE ${arg_LINK} px_build_flags benchmark::benchmark_main)
    if(arg_SMOKE)
        add_test(NAME ${name}.smoke COMMAND ${name} --benchmark_min_time=0.001)
        set_tests_properties(${name}.smoke PROPERTIES LABELS bench)
    endif()
endfunction()
