#!/usr/bin/env python3
"""Claims the shared target directory for one clone (infra/local/paths.sh explains why).

Cargo judges a workspace crate's outputs fresh when they are newer than its sources, and it names
those outputs by the crate's path inside the workspace, not by the clone. So when a clone builds
after another, its sources' times must tell cargo what is the same and what is not:

- a file whose content equals the previous clone's file at the same path takes that file's
  times: cargo then judges this clone's crate exactly as it judged the previous clone's, fresh
  only if the previous clone built it after its last edit;
- every other file (changed, new, or with no previous clone to compare with) is marked changed
  now, so the crates that hold it compile again from this clone's sources.

A fresh clone of the commit a developer just built thus compiles nothing that did not change,
where marking every file changed recompiled the whole workspace twice (x86_64 and arm64). What
cargo cannot see is a clone's absolute path compiled into a crate (`env!("CARGO_MANIFEST_DIR")`):
the workspace reads it at run time instead.

Usage: claim_target.py CLONE STAMP   (STAMP: the file naming the clone that claimed last)
"""

import filecmp
import os
import subprocess
import sys
import time


def files_of(root):
    """The clone's files: what git tracks and the untracked ones it does not ignore."""
    try:
        listed = subprocess.run(
            ["git", "-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            check=True,
            capture_output=True,
        ).stdout
        return [os.fsdecode(name) for name in listed.split(b"\0") if name]
    except (subprocess.CalledProcessError, FileNotFoundError):
        found = []
        for directory, subdirectories, names in os.walk(root):
            if directory == root:
                subdirectories[:] = [d for d in subdirectories if d not in ("target", ".cache", ".git")]
            found.extend(os.path.relpath(os.path.join(directory, name), root) for name in names)
        return found


def claim(root, previous):
    now = time.time_ns()
    same = changed = 0
    names = files_of(root)
    for done, name in enumerate(names):
        path = os.path.join(root, name)
        try:
            if not os.path.isfile(path):
                continue  # deleted from the working tree but still tracked
            earlier = os.path.join(previous, name) if previous else None
            try:
                kept = os.stat(earlier) if earlier and filecmp.cmp(path, earlier, shallow=False) else None
            except OSError:
                kept = None
            if kept:
                os.utime(path, ns=(kept.st_atime_ns, kept.st_mtime_ns))
                same += 1
            else:
                os.utime(path, ns=(now, now))
                changed += 1
        except OSError as error:
            # Half a claim could leave files with another clone's times: mark the rest changed.
            for rest in names[done:]:
                try:
                    os.utime(os.path.join(root, rest), ns=(now, now))
                except OSError:
                    pass
            sys.exit(f"paths: could not claim the shared target for {root} ({error}); its files are marked changed")
    return same, changed


def main():
    root, stamp = os.path.realpath(sys.argv[1]), sys.argv[2]
    try:
        with open(stamp) as text:
            previous = text.read().strip()
    except OSError:
        previous = ""
    if previous == root:
        return
    if previous and not os.path.isdir(previous):
        previous = ""
    same, changed = claim(root, previous)
    os.makedirs(os.path.dirname(stamp), exist_ok=True)
    with open(stamp, "w") as text:
        text.write(root + "\n")
    print(
        f"paths: {root} takes the shared target over from {previous or 'no clone still on disk'}: "
        f"{same} files as they were there, {changed} marked changed",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
