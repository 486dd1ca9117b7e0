#!/usr/bin/env python3
"""check-layers.py - no source file includes a header of a higher layer or of another party.

The layers (DESIGN.md 8, docs/architecture.md) are core -> crypto -> record, store -> net -> the
parties (keyserver, storage, hospital, client) -> cli. A file in src/L/ may include headers of L
and of the layers under L; record and store never include each other, and a party never includes
another party's header.

Which layer owns a header:
  - src/L/x.h belongs to L, whatever it declares;
  - include/medvault/x.h belongs to the folder whose .c files define the functions it declares
    (found by a definition at the start of a line). A public header whose functions are defined
    in two folders is itself an error: one header, one owner. A header that declares no function
    (types and constants only) belongs to the lowest layer that includes it, so it never fails.

The build also links every layer with only the layers under it (CMakeLists.txt,
MV_LAYER_LINK_CHECK), which catches a call; this script catches an include that a link would
not (a macro, an inline function, a type). Only the standard library: CI runs it with the plain
python3 of the build machine.

  check-layers.py [--root DIR] [--graph]
      exits 1 and names each offending include; --graph prints the layer graph instead, in
      Graphviz DOT with the number of includes on each edge (docs/architecture.dot).
"""
import argparse
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cheaders import declarations, public_headers  # noqa: E402

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))

ORDER = ['core', 'crypto', 'record', 'store', 'net', 'keyserver', 'storage', 'hospital', 'client',
         'cli']
PARTIES = {'keyserver', 'storage', 'hospital', 'client'}
# Layers that sit side by side: neither may use the other.
SIBLINGS = [PARTIES, {'record', 'store'}]
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def may_use(user, owner):
    """True if a file of layer `user` may include a header of layer `owner`."""
    if user == owner:
        return True
    if any(user in s and owner in s for s in SIBLINGS):
        return False
    return ORDER.index(owner) < ORDER.index(user)


def sources(root):
    for layer in ORDER:
        d = os.path.join(root, 'src', layer)
        if not os.path.isdir(d):
            continue
        for f in sorted(os.listdir(d)):
            if f.endswith(('.c', '.h')):
                yield layer, os.path.join(d, f)


def definers(root):
    """Maps a function name to the set of layers whose .c files define it."""
    found = {}
    defn = re.compile(r'^[A-Za-z_][\w \*]*?\b([A-Za-z_]\w*)\s*\([^;]*$', re.M)
    for layer, path in sources(root):
        if not path.endswith('.c'):
            continue
        with open(path, encoding='utf-8') as f:
            text = f.read()
        for m in defn.finditer(text):
            if m.group(0).startswith(('static', 'typedef', 'return', 'if', 'else', 'for', 'while')):
                continue
            found.setdefault(m.group(1), set()).add(layer)
    return found


def includes(path):
    with open(path, encoding='utf-8') as f:
        return INCLUDE.findall(f.read())


def run(root, graph):
    problems = []
    defs = definers(root)
    owner = {}
    for path in public_headers(root):
        rel = 'medvault/' + os.path.basename(path)
        _, decls = declarations(path)
        layers = set()
        for name, kind, _, _ in decls:
            if kind == 'function':
                layers |= defs.get(name, set())
        if len(layers) > 1:
            problems.append(f'include/{rel}: its functions are defined in {", ".join(sorted(layers, key=ORDER.index))}'
                            ' (one header, one owner)')
        owner[rel] = max(layers, key=ORDER.index) if layers else None
    # Public headers include each other too: they take the layer of their owner.
    files = list(sources(root))
    for path in public_headers(root):
        rel = 'medvault/' + os.path.basename(path)
        if owner[rel]:
            files.append((owner[rel], path))
    edges = {}
    for layer, path in files:
        for inc in includes(path):
            folder = inc.split('/', 1)[0]
            if inc in owner:
                dep = owner[inc]
            elif folder in ORDER and '/' in inc:
                dep = folder
            else:
                continue  # a generated header or one of the same folder
            if dep is None:
                continue
            edges[(layer, dep)] = edges.get((layer, dep), 0) + 1
            if not may_use(layer, dep):
                problems.append(f'{os.path.relpath(path, root)}: includes "{inc}" of layer {dep},'
                                f' which {layer} may not use')
    if graph:
        print(dot(edges))
        return 0
    for p in problems:
        print(f'check-layers: {p}', file=sys.stderr)
    if problems:
        print(f'check-layers: FAILED ({len(problems)} problems)', file=sys.stderr)
        return 1
    print(f'check-layers: ok ({len(files)} files, {sum(1 for o in owner.values() if o)} public headers with an owner)')
    return 0


def dot(edges):
    """The layer graph in Graphviz DOT: one node per layer, ranked as DESIGN.md 8 orders them,
    one edge per pair of layers with an include, labelled with the number of includes."""
    lines = ['// Generated by scripts/check-layers.py --graph (make docs): do not edit.',
             'digraph medvault_layers {', '  rankdir=BT;', '  node [shape=box, fontname="Helvetica"];']
    for rank in (['core'], ['crypto'], ['record', 'store'], ['net'], sorted(PARTIES), ['cli']):
        lines.append('  { rank=same; ' + ' '.join(f'"{r}";' for r in rank) + ' }')
    for (a, b), n in sorted(edges.items(), key=lambda e: (ORDER.index(e[0][0]), ORDER.index(e[0][1]))):
        if a != b:
            lines.append(f'  "{a}" -> "{b}" [label="{n}"];')
    lines.append('}')
    return '\n'.join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--root', default=ROOT, help='source tree (default: this checkout)')
    ap.add_argument('--graph', action='store_true', help='print the layer graph (DOT)')
    args = ap.parse_args()
    return run(args.root, args.graph)


if __name__ == '__main__':
    sys.exit(main())
