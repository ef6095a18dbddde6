#!/usr/bin/env python3
"""The longest Rust functions of the workspace, outside tests.

Usage: scripts/longest_fns.py [N] [--rev REV]   (default 10; REV: a git revision instead of
the working tree). A function runs from its `fn` line to its closing brace; bodies of
`#[cfg(test)] mod tests`, files named *_tests.rs / tests.rs, and tests/ folders are left out.
Braces inside string and char literals and comments are skipped (raw strings are not).
"""
import re
import subprocess
import sys

FN = re.compile(r'^\s*(pub(\([a-z]+\))?\s+)?(const\s+)?(unsafe\s+)?fn\s+([A-Za-z0-9_]+)')


def files(rev):
    out = subprocess.run(['git', 'ls-tree', '-r', '--name-only', rev] if rev else
                         ['git', 'ls-files'], capture_output=True, text=True, check=True).stdout
    for p in out.split():
        if not p.endswith('.rs') or '/tests/' in p or p.startswith('tests/'):
            continue
        if p.endswith('_tests.rs') or p.endswith('/tests.rs'):
            continue
        yield p


def text(rev, p):
    if rev:
        return subprocess.run(['git', 'show', f'{rev}:{p}'], capture_output=True, text=True).stdout
    return open(p, encoding='utf-8').read()


def strip(line):
    """The line without string/char literals and // comments (for brace counting)."""
    line = re.sub(r'"(\\.|[^"\\])*"', '""', line)
    line = re.sub(r"'(\\.|[^'\\])'", "''", line)
    return line.split('//', 1)[0]


def functions(src):
    lines = src.split('\n')
    i, skip_until = 0, -1
    while i < len(lines):
        if re.match(r'^\s*#\[cfg\(test\)\]', lines[i]) and i + 1 < len(lines) and \
                re.match(r'^\s*(pub\s+)?mod\s+\w+\s*\{', lines[i + 1]):
            break  # a test module closes the file's code in this code base
        m = FN.match(lines[i])
        if m:
            depth, started, j = 0, False, i
            while j < len(lines):
                s = strip(lines[j])
                if not started and ';' in s and '{' not in s:
                    break  # a declaration without a body
                depth += s.count('{') - s.count('}')
                started = started or '{' in s
                if started and depth <= 0:
                    yield m.group(5), i + 1, j - i + 1
                    break
                j += 1
        i += 1


def main():
    args = sys.argv[1:]
    rev = None
    if '--rev' in args:
        k = args.index('--rev')
        rev = args[k + 1]
        del args[k:k + 2]
    n = int(args[0]) if args else 10
    rows = []
    for p in files(rev):
        for name, line, length in functions(text(rev, p)):
            rows.append((length, f'{p}:{line}', name))
    rows.sort(reverse=True)
    for length, at, name in rows[:n]:
        print(f'{length:5}  {name:32} {at}')


if __name__ == '__main__':
    main()
