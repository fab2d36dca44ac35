// Replay driver for fuzz targets in builds without libFuzzer (gcc, coverage, TSan, release).
//
// Usage: <target> [-flag ...] [file-or-directory ...]
// Runs LLVMFuzzerTestOneInput once per file (directories are walked recursively, in sorted
// order so runs are repeatable). Arguments starting with '-' are libFuzzer flags and are
// ignored. With no inputs at all it runs the empty input once, so a target without a corpus
// is still exercised. Like libFuzzer, each input is handed over in a heap buffer of exactly its
// size, so ASan still sees reads past the end.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);
extern "C" __attribute__((weak)) int LLVMFuzzerInitialize(int* argc, char*** argv);

namespace {

bool read_file(const std::filesystem::path& path, std::vector<std::uint8_t>& out) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return false;
    }
    out.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    return !in.bad();
}

void run_one(const std::vector<std::uint8_t>& input) {
    const std::unique_ptr<std::uint8_t[]> exact(new std::uint8_t[input.size()]);
    std::copy(input.begin(), input.end(), exact.get());
    LLVMFuzzerTestOneInput(exact.get(), input.size());
}

} // namespace

int main(int argc, char** argv) {
    if (LLVMFuzzerInitialize != nullptr) {
        LLVMFuzzerInitialize(&argc, &argv);
    }

    std::vector<std::filesystem::path> inputs;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg.starts_with("-")) {
            continue;
        }
        const std::filesystem::path path(arg);
        std::error_code ec;
        if (std::filesystem::is_directory(path, ec)) {
            for (const auto& entry : std::filesystem::recursive_directory_iterator(path)) {
                if (entry.is_regular_file()) {
                    inputs.push_back(entry.path());
                }
            }
        } else if (std::filesystem::is_regular_file(path, ec)) {
            inputs.push_back(path);
        } else {
            std::fprintf(stderr, "replay: no such file or directory: %s\n", arg.c_str());
            return 2;
        }
    }
    std::sort(inputs.begin(), inputs.end());

    if (inputs.empty()) {
        run_one({});
        std::printf("replay: no inputs given; ran the empty input\n");
        return 0;
    }

    std::vector<std::uint8_t> data;
    for (const auto& path : inputs) {
        if (!read_file(path, data)) {
            std::fprintf(stderr, "replay: cannot read %s\n", path.c_str());
            return 2;
        }
        run_one(data);
    }
    std::printf("replay: ran %zu inputs\n", inputs.size());
    return 0;
}
