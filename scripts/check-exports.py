#!/usr/bin/env python3
"""check-exports.py - libmedvault.so exports exactly the documented API, and the API is marked.

The library is compiled with -fvisibility=hidden; a function is exported only when its
declaration in include/medvault/*.h carries MV_API (include/medvault/mv_api.h). This script
holds both halves of that contract:

  check-exports.py [--lib build/libmedvault.so]
      fails if a public header declares a function or an object without MV_API, and (with
      --lib) if `nm -D --defined-only` lists a symbol that no public header declares.
  check-exports.py --add-mv-api
      puts MV_API in front of every unmarked declaration (used once, when the marking began;
      kept so that a header written before it can be converted the same way).

Only the standard library: CI runs it with the plain python3 of the build machine.
"""
import argparse
import os
import subprocess
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cheaders import declarations, public_headers  # noqa: E402


def add_mv_api(root):
    changed = 0
    for path in public_headers(root):
        text, decls = declarations(path)
        todo = [d for d in decls if not d[3]]
        for name, kind, start, _ in reversed(todo):
            text = text[:start] + 'MV_API ' + text[start:]
        if todo:
            with open(path, 'w', encoding='utf-8') as f:
                f.write(text)
            changed += len(todo)
    print(f'check-exports: marked {changed} declarations with MV_API')
    return 0


def exported(lib):
    out = subprocess.run(['nm', '-D', '--defined-only', lib], check=True,
                         capture_output=True, text=True).stdout
    syms = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 3:
            syms.add(parts[2].split('@')[0])
    return syms


def check(root, lib):
    failures = []
    declared = set()
    for path in public_headers(root):
        rel = os.path.relpath(path, root)
        _, decls = declarations(path)
        for name, kind, _, marked in decls:
            declared.add(name)
            if not marked and os.path.basename(path) != 'mv_api.h':
                failures.append(f'{rel}: {kind} {name} is declared without MV_API')
    count = None
    if lib:
        syms = exported(lib)
        count = len(syms)
        for sym in sorted(syms - declared):
            failures.append(f'{lib}: exports {sym}, which no include/medvault header declares')
    for f in failures:
        print(f'check-exports: {f}', file=sys.stderr)
    if failures:
        print(f'check-exports: FAILED ({len(failures)} problems)', file=sys.stderr)
        return 1
    what = f'{len(declared)} declarations marked'
    if count is not None:
        what += f', {count} exported symbols all declared'
    print(f'check-exports: ok ({what})')
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--root', default=ROOT, help='source tree (default: this checkout)')
    ap.add_argument('--lib', help='the shared library whose dynamic symbols to check')
    ap.add_argument('--add-mv-api', action='store_true', help='mark unmarked declarations')
    args = ap.parse_args()
    if args.add_mv_api:
        return add_mv_api(args.root)
    return check(args.root, args.lib)


if __name__ == '__main__':
    sys.exit(main())
