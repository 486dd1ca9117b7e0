"""cheaders.py - a small reader of C headers and sources, shared by the build's checks.

Not a C parser: it knows the shapes medvault's own files use (one declaration per statement,
`extern "C"` only inside #ifdef __cplusplus, no function-like macros around declarations), which
scripts/check-exports.py and scripts/check-layers.py both rely on. Only the standard library.
"""
import os
import re

IDENT = re.compile(r'[A-Za-z_][A-Za-z0-9_]*')


def mask(text):
    """Returns text with comments, literals, preprocessor lines and C++-only blocks blanked.

    Every blanked character becomes a space (newlines stay), so offsets into the result are
    offsets into the original and a declaration can be edited in place."""
    out = list(text)
    i, n = 0, len(text)
    line_start = True
    while i < n:
        c = text[i]
        if text.startswith('/*', i):
            j = text.find('*/', i + 2)
            j = n if j < 0 else j + 2
            for k in range(i, j):
                if out[k] != '\n':
                    out[k] = ' '
            i = j
            continue
        if text.startswith('//', i):
            j = text.find('\n', i)
            j = n if j < 0 else j
            for k in range(i, j):
                out[k] = ' '
            i = j
            continue
        if c in '"\'':
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == '\\' else 1
            for k in range(i, min(j + 1, n)):
                if out[k] != '\n':
                    out[k] = ' '
            i = j + 1
            line_start = False
            continue
        if line_start and c == '#':
            # A directive runs to the end of its line, continuations included.
            j = i
            while j < n and text[j] != '\n':
                j += 2 if text[j] == '\\' else 1
            for k in range(i, min(j, n)):
                if out[k] != '\n':
                    out[k] = ' '
            i = j
            continue
        if c == '\n':
            line_start = True
        elif not c.isspace():
            line_start = False
        i += 1
    masked = ''.join(out)
    # `extern "C" {` and its closing brace sit between #ifdef __cplusplus and #endif: a C
    # compiler never sees them, and neither does this parser.
    for m in re.finditer(r'^#\s*ifdef\s+__cplusplus\b.*?^#\s*endif\b', text, re.M | re.S):
        masked = masked[:m.start()] + re.sub(r'[^\n]', ' ', masked[m.start():m.end()]) + \
            masked[m.end():]
    return masked


def statements(masked):
    """Yields (start, end) of each top-level statement: a declaration ending in ';', or a
    definition with a body (struct, enum or inline function) ending in its '}' or ';'."""
    depth = 0
    start = None
    body_is_function = False
    for i, c in enumerate(masked):
        if start is None:
            if c.isspace():
                continue
            start = i
        if c == '{':
            if depth == 0:
                body_is_function = masked[start:i].rstrip().endswith(')')
            depth += 1
        elif c == '}':
            depth -= 1
            if depth == 0 and body_is_function:
                yield start, i + 1
                start = None
        elif c == ';' and depth == 0:
            yield start, i + 1
            start = None


def declarations(path):
    """Returns [(name, kind, start, marked)] for the exported declarations of one header:
    kind is 'function' or 'object', start the offset of the declaration's first character."""
    with open(path, encoding='utf-8') as f:
        text = f.read()
    masked = mask(text)
    found = []
    for start, end in statements(masked):
        stmt = masked[start:end]
        words = IDENT.findall(stmt)
        if not words or words[0] in ('typedef', 'static') or '{' in stmt:
            continue  # a type, or a definition local to each includer
        if words[0] in ('struct', 'union', 'enum') and re.fullmatch(
                r'\s*(struct|union|enum)\s+\w+\s*;\s*', stmt):
            continue  # a forward declaration of a tag
        paren = stmt.find('(')
        if paren >= 0:
            name = IDENT.findall(stmt[:paren])[-1]
            kind = 'function'
        else:
            head = re.split(r'[\[=;]', stmt, maxsplit=1)[0]
            name = IDENT.findall(head)[-1]
            kind = 'object'
        found.append((name, kind, start, words[0] == 'MV_API'))
    return text, found


def public_headers(root):
    inc = os.path.join(root, 'include', 'medvault')
    return sorted(os.path.join(inc, f) for f in os.listdir(inc) if f.endswith('.h'))
