#pragma once

namespace sfb {
/// sfbench's semantic version, e.g. "0.1.0".
const char* version();
/// The git commit the binary was built from ("unknown" outside a git checkout), read at build time.
const char* git_commit();
/// True when the build tree had uncommitted changes to tracked files.
bool git_dirty();
}  // namespace sfb
