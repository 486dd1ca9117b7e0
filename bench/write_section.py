#!/usr/bin/env python3
"""bench/write_section.py FILE NAME: replaces the part of FILE between <!-- NAME:begin --> and
<!-- NAME:end --> with standard input (which holds neither marker), or appends the section with
its markers when FILE has none. The benchmark scripts (peers.sh, guard_fp.sh, fhir_import.sh)
each own one such section of docs/BENCHMARKS.md."""
import os
import sys


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: write_section.py FILE NAME")
    path, name = sys.argv[1], sys.argv[2]
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    section = sys.stdin.read()
    if not section.endswith("\n"):
        section += "\n"
    block = f"{begin}\n{section}{end}"
    old = open(path).read() if os.path.exists(path) else ""
    if begin in old and end in old and old.index(begin) < old.index(end):
        new = old[:old.index(begin)] + block + old[old.index(end) + len(end):]
    else:
        new = old.rstrip("\n") + ("\n\n" if old else "") + block + "\n"
    with open(path, "w") as f:
        f.write(new)


if __name__ == "__main__":
    main()
