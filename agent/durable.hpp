// Durable files in the data dir: written whole or not at all (temp file, fsync, rename,
// fsync of the directory), so a crash at any moment leaves the old or the new content.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "bus/error.hpp"

namespace mob {

Result<void> write_file_atomically(const std::filesystem::path& path, std::string_view content);
Result<std::string> read_whole_file(const std::filesystem::path& path);
// Creates `dir` (and parents) with mode 0700 if missing.
Result<void> ensure_private_dir(const std::filesystem::path& dir);

}  // namespace mob
