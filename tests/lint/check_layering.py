#!/usr/bin/env python3
"""Layering lint (ctest label `lint`): the module dependencies of DESIGN.md, enforced on includes.

Checks every C++ file under src/sfb/, apps/ and bench/ of --root:
  1. src/sfb/<module>/ includes "<other>/..." only for the modules below it in DESIGN.md's order
     (ALLOWED); apps/ and bench/ sit on top and may include every module.
  2. A module's internals ("io/hdf5/...", "<module>/detail/...") are included only from inside it.
  3. HDF5's C API (<hdf5.h>, hid_t, herr_t, H5*() calls) appears only in src/sfb/io/.
  4. MPI calls and NCCL appear only in src/sfb/comm/; MPI also in io/hdf5/ (parallel HDF5 runs over
     MPI-IO) and in bench/ (raw MPI and MPI-IO are the references the benchmarks measure against).
Comments and string literals are ignored. Prints one line per violation (file:line: what) and exits
1 when there is any.
"""
import argparse
import pathlib
import re
import sys

# DESIGN.md: core <- comm, io <- data <- models <- shapley, attacks, attribution <- interactions
# <- train <- report <- apps/, bench/; io writes through comm (ranks, agreed errors), pipeline (the
# inputs of a run and the Stage runner of the commands) sits between models and the analyses, and
# report (`sfbench report`) reads the results of every analysis.
_BASE = ["core", "comm", "io", "data", "models"]
BELOW = {
    "core": [],
    "comm": ["core"],
    "io": ["core", "comm"],
    "data": ["core", "comm", "io"],
    "models": ["core", "comm", "io", "data"],
    "pipeline": _BASE,
    "shapley": _BASE + ["pipeline"],
    "attacks": _BASE + ["pipeline"],
    "attribution": _BASE + ["pipeline"],
    "interactions": _BASE + ["pipeline", "shapley", "attacks", "attribution"],
    "train": _BASE + ["pipeline", "shapley", "attacks", "attribution", "interactions"],
    # `sfbench report` reads what every analysis module writes: above all of them, below apps/.
    "report": _BASE + ["pipeline", "shapley", "attacks", "attribution", "interactions", "train"],
}
ALLOWED = {m: set(v) | {m} for m, v in BELOW.items()}
INTERNAL = [(re.compile(r'^io/hdf5/'), "io"), (re.compile(r'^([a-z_]+)/detail/'), None)]
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')
HDF5 = re.compile(r'\b(hid_t|herr_t|hsize_t)\b|\bH5[A-Z][A-Za-z_]*\s*\(')
MPI_CALL = re.compile(r'\bMPI_[A-Z][a-z_]+\s*\(')
NCCL = re.compile(r'\bnccl[A-Z][A-Za-z]*\s*\(|\bncclComm_t\b')
CODE_SUFFIXES = {".cpp", ".hpp", ".h", ".cu", ".cuh"}


def strip_comments_and_strings(text):
    """Blanks comments and string/char literals, keeping line breaks (and #include lines)."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append("\n" * text.count("\n", i, j))
            i = j
        elif text.startswith('R"', i):
            m = re.match(r'R"([^(]*)\(', text[i:])
            end = text.find(")" + m.group(1) + '"', i) if m else -1
            j = n if end < 0 else end + len(m.group(1)) + 2
            out.append('""' + "\n" * text.count("\n", i, j))
            i = j
        elif c in "\"'":
            line_start = text.rfind("\n", 0, i) + 1
            if c == '"' and INCLUDE.match(text[line_start:i + 1] + 'x"'):
                j = text.find('"', i + 1)  # keep #include "path"
                out.append(text[i:j + 1])
                i = j + 1
                continue
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            out.append(c + c)
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def module_of(rel):
    parts = rel.parts
    if len(parts) >= 3 and parts[0] == "src" and parts[1] == "sfb" and parts[2] in ALLOWED:
        return parts[2]
    return None


def check_file(root, path):
    rel = path.relative_to(root)
    module = module_of(rel)
    top = rel.parts[0]
    in_io = module == "io"
    mpi_ok = module == "comm" or rel.parts[:4] == ("src", "sfb", "io", "hdf5") or top == "bench"
    problems = []
    text = strip_comments_and_strings(path.read_text(errors="replace"))
    for no, line in enumerate(text.splitlines(), 1):
        where = f"{rel}:{no}"
        inc = INCLUDE.match(line)
        if inc:
            target = inc.group(2)
            if target in ("hdf5.h", "H5Cpp.h") and not in_io:
                problems.append(f"{where}: includes <{target}>; only src/sfb/io/ uses HDF5's C API")
            if target in ("nccl.h",) and module != "comm":
                problems.append(f"{where}: includes <{target}>; only src/sfb/comm/ uses NCCL")
            first = target.split("/", 1)[0]
            if inc.group(1) == '"' and first in ALLOWED:
                if module is not None and first not in ALLOWED[module]:
                    below = ", ".join(BELOW[module]) or "no other module"
                    problems.append(f"{where}: module '{module}' includes \"{target}\"; DESIGN.md "
                                    f"lets '{module}' include {below}")
                for pattern, owner in INTERNAL:
                    m = pattern.match(target)
                    if m and (owner or m.group(1)) != module:
                        problems.append(f"{where}: includes \"{target}\", an internal header of "
                                        f"'{owner or m.group(1)}'")
            continue
        if not in_io and HDF5.search(line):
            problems.append(f"{where}: uses HDF5's C API ({HDF5.search(line).group(0).strip()}); "
                            "only src/sfb/io/ may (use io::H5Node or io::ResultsFile)")
        if not mpi_ok and MPI_CALL.search(line):
            problems.append(f"{where}: calls {MPI_CALL.search(line).group(0).strip()}; only "
                            "src/sfb/comm/ calls MPI (use comm::Communicator or Context)")
        if module != "comm" and NCCL.search(line):
            problems.append(f"{where}: uses NCCL ({NCCL.search(line).group(0).strip()}); only "
                            "src/sfb/comm/ may")
    return problems


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", required=True, help="repository root")
    args = ap.parse_args()
    root = pathlib.Path(args.root).resolve()
    files = []
    for sub in ("src/sfb", "apps", "bench"):
        files += [p for p in sorted((root / sub).rglob("*")) if p.suffix in CODE_SUFFIXES]
    if not files:
        print(f"check_layering: no C++ files under {root}/src/sfb, apps, bench", file=sys.stderr)
        return 1
    problems = [p for f in files for p in check_file(root, f)]
    for p in problems:
        print(p)
    print(f"check_layering: {len(files)} files, {len(problems)} violations")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
