#!/usr/bin/env python3
"""Fails when sfbench uses a dependency that scripts/setup-deps.sh does not install.

Debian: every header and library the build really used (ninja's dependency records, the link lines,
the shared libraries the built programs load), every program ctest starts and every program the
test, quickstart and job scripts call is mapped to the Debian package that owns it (dpkg's file
lists). Each such package must be installed by scripts/setup-deps.sh (the packages on the
apt-get lines of install_debian_packages and install_debian_slurm_packages, printed by
--list-debian), directly or as a dependency (apt-cache depends --recurse), or be part of every Debian system (Essential or Priority required).

Python: every module imported by the .py files and the Python here-documents under tests/, bench/
and scripts/ must be the standard library, a file of the repository, or come from a distribution
in scripts/deps/python.txt or one they require (recursively).

--drop-debian PKG / --drop-python DIST remove an entry from the declared lists before checking; the
mutation tests use them to show that the check names a missing package.

Exit 0 when everything is declared, 1 with one line per undeclared package otherwise, 2 when the
check itself cannot run.
"""

import argparse
import ast
import importlib.metadata as md
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path


def die(msg):
    print(f"check_deps: error: {msg}", file=sys.stderr)
    sys.exit(2)


def entries(path):
    out = []
    for line in Path(path).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            out.append(line)
    return out


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        die(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr.strip()[:400]}")
    return r.stdout


# ---- Debian --------------------------------------------------------------------------------------

def dpkg_owners():
    """Path -> package, from dpkg's file lists (what `dpkg -S` reads)."""
    owners = {}
    info = Path("/var/lib/dpkg/info")
    for lst in info.glob("*.list"):
        pkg = lst.stem.split(":", 1)[0]
        for line in lst.read_text(errors="replace").splitlines():
            owners.setdefault(line, pkg)
    return owners


def path_variants(p):
    """The names a file may be listed under: as used, through each symlink, and across merged /usr."""
    seen = []

    def add(q):
        q = os.path.normpath(q)
        if q not in seen:
            seen.append(q)
        for a, b in (("/usr/lib/", "/lib/"), ("/usr/bin/", "/bin/"), ("/usr/sbin/", "/sbin/")):
            if q.startswith(a):
                alt = b + q[len(a):]
            elif q.startswith(b):
                alt = a + q[len(b):]
            else:
                continue
            if alt not in seen:
                seen.append(alt)

    add(p)
    q = p
    for _ in range(16):  # follow a chain of symlinks (alternatives) one link at a time
        if not os.path.islink(q):
            break
        q = os.path.join(os.path.dirname(q), os.readlink(q))
        add(q)
    add(os.path.realpath(p))
    # a file reached through a symlinked folder: map the folder's own name too
    parent = os.path.dirname(p)
    if parent != os.path.realpath(parent):
        add(os.path.join(os.path.realpath(parent), os.path.basename(p)))
    return seen


def ninja_used_files(build):
    """Absolute paths of every header recorded by the compiler and every library on a link line."""
    files = set()
    out = run(["ninja", "-C", str(build), "-t", "deps"])
    for line in out.splitlines():
        if line.startswith("    "):
            f = line.strip()
            if f.startswith("/"):
                files.add(f)
    cmds = run(["ninja", "-C", str(build), "-t", "commands"])
    libdirs_default = ["/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu", "/usr/lib", "/lib"]
    for cmd in cmds.splitlines():
        toks = cmd.split()
        if " -c " in f" {cmd} " or not toks or "-o" not in toks:
            continue  # compile lines are covered by the dependency records
        if not re.search(r"\b(c\+\+|g\+\+|gcc|cc|clang\+\+)\b", toks[0].split("/")[-1]):
            continue
        libdirs = []
        for t in toks:
            for part in t.split(","):  # -Wl,-rpath,... lists
                if part.startswith("-L"):
                    libdirs.append(part[2:])
        for t in toks:
            if t.startswith("/") and re.search(r"\.(so(\.\d+)*|a)$", t):
                files.add(t)
            elif t.startswith("-l") and len(t) > 2:
                name = t[2:]
                for d in libdirs + libdirs_default:
                    hit = next((os.path.join(d, f"lib{name}{s}") for s in (".so", ".a")
                                if os.path.exists(os.path.join(d, f"lib{name}{s}"))), None)
                    if hit:
                        files.add(hit)
                        break
    return files


def loaded_libraries(programs):
    """The shared libraries the built programs load at run time (ldd)."""
    files = set()
    for prog in programs:
        r = subprocess.run(["ldd", str(prog)], capture_output=True, text=True)
        for line in r.stdout.splitlines():
            m = re.search(r"=>\s+(/\S+)", line) or re.match(r"\s*(/\S+)\s+\(", line)
            if m:
                files.add(m.group(1))
    return files


SHELL_WORDS = {"if", "then", "else", "elif", "fi", "for", "while", "until", "do", "done", "case",
               "esac", "in", "function", "select", "time", "exec", "command", "env", "sudo",
               "nohup", "setsid", "!", "{", "}", "[[", "]]", "[", "return", "local", "export",
               "declare", "readonly", "unset", "shift", "trap", "wait", "set", "source", "."}


def heredoc_split(text):
    """Yields (shell_lines, heredocs) where heredocs are (opening line, body lines)."""
    lines = text.splitlines()
    shell, docs = [], []
    i = 0
    while i < len(lines):
        line = lines[i]
        shell.append(line)
        m = re.search(r"<<-?\s*(['\"]?)(\w+)\1", line)
        i += 1
        if m:
            delim = m.group(2)
            body = []
            while i < len(lines) and lines[i].strip() != delim:
                body.append(lines[i])
                i += 1
            i += 1
            docs.append((line, body))
    return shell, docs


def shell_programs(text):
    """Programs named at a command position of a shell script (heredoc bodies excluded)."""
    shell, _ = heredoc_split(text)
    progs = set()
    for line in shell:
        line = line.split(" #", 1)[0]
        if line.lstrip().startswith("#"):
            continue
        # quoted text becomes one placeholder word: `"$tool" write` runs $tool, not write
        line = re.sub(r"'[^']*'|\"[^\"]*\"", " QUOTED ", line)
        for seg in re.split(r"\|\||&&|[|;`]|\$\(|<\(|\(", line):
            words = seg.split()
            while words and (words[0] in SHELL_WORDS or re.match(r"^\w+=", words[0])
                             or (words[0] == "timeout") or re.match(r"^-|^\d+[smh]?$", words[0])):
                words.pop(0)
            if words and re.match(r"^[a-z][\w.+-]*$", words[0]):
                progs.add(words[0])
    return progs


def tool_files(repo):
    """Programs from the system that the test, quickstart and job scripts call."""
    scripts = [p for d in ("tests", "jobs", "bench") for p in (repo / d).rglob("*")
               if p.suffix in (".sh", ".sbatch")]
    scripts += [repo / "scripts" / n for n in ("quickstart.sh", "test.sh", "build.sh",
                                                "setup-deps.sh")]
    files = {}
    for s in scripts:
        for prog in shell_programs(s.read_text(errors="replace")):
            hit = shutil.which(prog, path="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
            if hit and hit.startswith(("/usr/bin", "/usr/sbin", "/bin", "/sbin")):
                files.setdefault(hit, f"{s.relative_to(repo)} runs {prog}")
    return files


def ctest_programs(build):
    out = run(["ctest", "--show-only=json-v1"], cwd=str(build))
    progs = set()
    for t in json.loads(out).get("tests", []):
        cmd = t.get("command") or []
        if cmd:
            progs.add(cmd[0])
    return progs


def apt_closure(packages):
    out = run(["apt-cache", "depends", "--recurse", "--no-recommends", "--no-suggests",
               "--no-conflicts", "--no-breaks", "--no-replaces", "--no-enhances"] + packages)
    closure = set()
    for line in out.splitlines():
        if line and not line[0].isspace() and not line.startswith("<"):
            closure.add(line.strip().split(":", 1)[0])
    return closure


def base_packages():
    out = run(["dpkg-query", "-W", "-f", "${Package}\t${Essential}\t${Priority}\n"])
    base = set()
    for line in out.splitlines():
        pkg, ess, prio = (line.split("\t") + ["", ""])[:3]
        if ess == "yes" or prio == "required":
            base.add(pkg)
    return base


def check_debian(repo, build, venv, drop):
    declared = run([str(repo / "scripts/setup-deps.sh"), "--list-debian"]).split()
    for d in drop:
        if d not in declared:
            die(f"--drop-debian {d}: not in the lists of scripts/setup-deps.sh")
    declared = [p for p in declared if p not in drop]
    closure = apt_closure(declared)
    if not closure:
        die("apt-cache depends found nothing (run apt-get update once)")
    base = base_packages()
    owners = dpkg_owners()

    used = {}  # file -> why
    for f in ninja_used_files(build):
        used.setdefault(f, "the build (compiler dependency records, link lines)")
    programs = [p for p in build.rglob("*") if p.is_file() and os.access(p, os.X_OK)
                and p.suffix == "" and "CMakeFiles" not in p.parts]
    for f in loaded_libraries(programs):
        used.setdefault(f, "the built programs (ldd)")
    for prog in ctest_programs(build):
        used.setdefault(prog, "ctest")
    for f, why in tool_files(repo).items():
        used.setdefault(f, why)

    problems = {}  # package -> example file and why
    outside = {}
    roots_ok = [str(repo), str(build), str(venv), os.path.realpath(venv)]
    cache = (build / "CMakeCache.txt").read_text(errors="replace")
    m = re.search(r"^CMAKE_HOME_DIRECTORY:INTERNAL=(.*)$", cache, re.M)
    if m:
        roots_ok.append(m.group(1).strip())  # the sources this build was configured from
    for f, why in sorted(used.items()):
        real = os.path.realpath(f)
        if any(f.startswith(r + "/") or real.startswith(r + "/") for r in roots_ok):
            continue  # the project's own files and the virtual environment (checked below)
        if real.startswith("/usr/local/cuda") or f.startswith("/usr/local/cuda"):
            outside.setdefault("CUDA toolkit (/usr/local/cuda)", real)
            continue
        pkg = next((owners[v] for v in path_variants(f) if v in owners), None)
        if pkg is None:
            problems.setdefault(f"(no Debian package owns {f})", (f, why))
            continue
        if pkg in closure or pkg in base:
            continue
        problems.setdefault(pkg, (f, why))
    for what, f in outside.items():
        print(f"check_deps: note: {what} is used ({f}); it comes with the machine, not with "
              f"setup-deps.sh (README: Set-up)")
    n_files = len(used)
    print(f"check_deps: Debian: {n_files} files used, {len(declared)} packages declared, "
          f"{len(closure)} in their dependency closure")
    return problems


# ---- Python --------------------------------------------------------------------------------------

def python_sources(repo):
    """(origin, source) pairs: .py files and Python here-documents under tests/, bench/, scripts/."""
    out = []
    for d in ("tests", "bench", "scripts"):
        for p in sorted((repo / d).rglob("*")):
            if not p.is_file() or "__pycache__" in p.parts:
                continue
            rel = str(p.relative_to(repo))
            if p.suffix == ".py":
                out.append((rel, p.read_text(errors="replace")))
            elif p.suffix in (".sh", ".sbatch"):
                _, docs = heredoc_split(p.read_text(errors="replace"))
                for opening, body in docs:
                    if re.search(r"python|\$py\b|<<-?\s*['\"]?PY", opening):
                        out.append((f"{rel} (here-document: {opening.strip()[:60]})", "\n".join(body)))
    return out


def imported_modules(source):
    try:
        tree = ast.parse(source)
    except SyntaxError:
        # a fragment that is not a whole program: fall back to the import lines
        mods = set()
        for line in source.splitlines():
            m = re.match(r"\s*(?:import|from)\s+([A-Za-z_]\w*)", line)
            if m:
                mods.add(m.group(1))
        return mods
    mods = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                mods.add(a.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            mods.add(node.module.split(".")[0])
    return mods


def local_modules(repo):
    names = set()
    for p in repo.rglob("*.py"):
        if ".venv" in p.parts or any(part.startswith("build") for part in p.relative_to(repo).parts):
            continue
        names.add(p.stem)
        if p.name == "__init__.py":
            names.add(p.parent.name)
    return names


def canon(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(req):
    m = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", req)
    if not m:
        die(f"cannot read the requirement '{req}'")
    return canon(m.group(1))


def python_closure(requirements):
    """The declared distributions and, recursively, what they require. A requirement behind an
    extra is left out; other environment markers are taken as true (the closure may be larger
    than what pip installed, never smaller)."""
    todo = [requirement_name(r) for r in requirements]
    closure = set()
    while todo:
        name = todo.pop()
        if name in closure:
            continue
        closure.add(name)
        try:
            reqs = md.requires(name) or []
        except md.PackageNotFoundError:
            continue  # declared but not installed: its imports fail on their own
        for r in reqs:
            if ";" in r and re.search(r"\bextra\s*==", r.split(";", 1)[1]):
                continue
            todo.append(requirement_name(r))
    return closure


def check_python(repo, drop):
    declared = entries(repo / "scripts/deps/python.txt")
    names = [requirement_name(r) for r in declared]
    for d in drop:
        if canon(d) not in names:
            die(f"--drop-python {d}: not in scripts/deps/python.txt")
    declared = [r for r in declared if requirement_name(r) not in {canon(d) for d in drop}]
    closure = python_closure(declared)
    stdlib = set(sys.stdlib_module_names)
    local = local_modules(repo)
    dists = md.packages_distributions()
    problems = {}
    n = 0
    for origin, src in python_sources(repo):
        for mod in sorted(imported_modules(src)):
            n += 1
            if mod in stdlib or mod in local or mod == "__future__":
                continue
            provided = [canon(d) for d in dists.get(mod, [])]
            if not provided:
                problems.setdefault(f"(no installed package provides the module '{mod}')",
                                    (origin, f"imports {mod}"))
            elif not any(d in closure for d in provided):
                problems.setdefault(provided[0], (origin, f"imports {mod}"))
    print(f"check_deps: Python: {n} imports checked, {len(declared)} packages declared, "
          f"{len(closure)} in their closure")
    return problems


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repo", required=True, type=Path)
    ap.add_argument("--build", required=True, type=Path)
    ap.add_argument("--venv", required=True, type=Path)
    ap.add_argument("--drop-debian", action="append", default=[])
    ap.add_argument("--drop-python", action="append", default=[])
    ap.add_argument("--only", choices=["debian", "python"])
    a = ap.parse_args()
    for tool in ("ninja", "dpkg-query", "apt-cache", "ctest", "ldd"):
        if not shutil.which(tool):
            die(f"needs {tool} on PATH")
    if not (a.build / "build.ninja").exists():
        die(f"{a.build} is not a Ninja build folder (scripts/build.sh makes one)")
    failed = False
    if a.only in (None, "debian"):
        for pkg, (f, why) in sorted(check_debian(a.repo.resolve(), a.build.resolve(),
                                                 a.venv, a.drop_debian).items()):
            print(f"check_deps: undeclared Debian package {pkg}: {f} is used by {why}; "
                  f"add it to install_debian_packages in scripts/setup-deps.sh")
            failed = True
    if a.only in (None, "python"):
        for dist, (origin, why) in sorted(check_python(a.repo.resolve(), a.drop_python).items()):
            print(f"check_deps: undeclared Python package {dist}: {origin} {why}; "
                  f"add it to scripts/deps/python.txt")
            failed = True
    if failed:
        return 1
    print("check_deps: every dependency used is installed by scripts/setup-deps.sh")
    return 0


if __name__ == "__main__":
    sys.exit(main())
