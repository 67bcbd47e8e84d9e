"""Count skip/xfail sites in a test tree without fibench's scanner, to check its count.

Usage: python3 audits/skips/independent_count.py TREE [skips.csv]

Works on tokens (comments and strings dropped), not on the AST walk fibench uses, and
applies the same definition of a site that `fibench audit skips` documents:

- each ``pytest.skip/xfail/importorskip(...)`` call, ``pytest.skip.Exception(...)`` raise
  and ``pytest.mark.skip/skipif/xfail`` mark is a site, except a mark that is the value
  of a module-level binding (``name = pytest.mark.skipif(...)``: an alias) or of a
  ``return`` inside a function (a factory), and except ``pytest.skip.Exception`` in an
  ``except`` clause or ``pytest.raises(...)``;
- an alias is a module-level name bound to a mark, to a call of a factory, or to another
  alias; each occurrence of an alias or factory name where a mark goes (decorator,
  ``pytestmark = ...``, after ``marks=``, in ``applymarker(...)``) is one site (a use);
- an alias or factory that nothing uses is one site at its definition.

With a skips.csv from fibench, prints the files where the two counts differ.
"""

from __future__ import annotations

import csv
import io
import sys
import tokenize
from collections import Counter
from pathlib import Path

MARKS = ("skip", "skipif", "xfail")
CALLS = ("skip", "xfail", "importorskip")


def logical_lines(text: str) -> list[list[tokenize.TokenInfo]]:
    """Code tokens grouped by logical line (one statement head each; comments, strings
    and layout tokens dropped)."""
    drop = {tokenize.COMMENT, tokenize.STRING, tokenize.NL, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER}
    drop |= {getattr(tokenize, n) for n in ("FSTRING_START", "FSTRING_MIDDLE", "FSTRING_END") if hasattr(tokenize, n)}
    lines: list[list[tokenize.TokenInfo]] = [[]]
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type == tokenize.NEWLINE:
            lines.append([])
        elif tok.type not in drop:
            lines[-1].append(tok)
    return [line for line in lines if line]


def binding_target(line: list[tokenize.TokenInfo]) -> str | None:
    """``NAME = ...`` (or ``NAME: T = ...``) at module level: NAME."""
    first = line[0]
    if first.start[1] != 0 or first.type != tokenize.NAME or len(line) < 3:
        return None
    if line[1].string == "=" or line[1].string == ":" and any(t.string == "=" for t in line[2:]):
        return first.string
    return None


def in_mark_position(strings: list[str], k: int) -> bool:
    """Token ``k`` is where a mark goes: a decorator, ``pytestmark = ...``, after
    ``marks=`` in the same call, or inside ``applymarker(...)`` / ``add_marker(...)``."""
    if strings[0] == "@" or strings[0] == "pytestmark":
        return True
    depth = 0
    for j in range(k - 1, -1, -1):
        depth += strings[j] in (")", "]", "}")
        depth -= strings[j] in ("(", "[", "{")
        if strings[j] == "marks" and j + 1 < len(strings) and strings[j + 1] == "=" and depth <= 0:
            return True
        if strings[j] in ("applymarker", "add_marker") and depth < 0:
            return True
    return False


def count(root: Path) -> Counter:
    """Sites per file (relative POSIX paths)."""
    files = {}
    for path in sorted(root.rglob("*.py")):
        try:
            files[path.relative_to(root).as_posix()] = logical_lines(path.read_text(errors="replace"))
        except (tokenize.TokenError, SyntaxError) as exc:
            print(f"  not tokenized: {path.relative_to(root)} ({exc})")
    sites: Counter = Counter()
    aliases: dict[str, set[str]] = {}  # name -> files binding it to a mark
    factories: dict[str, set[str]] = {}  # name -> files defining it
    for rel, lines in files.items():
        current = None  # the module-level function the line is in
        for line in lines:
            strings = [t.string for t in line]
            target = binding_target(line)
            if line[0].start[1] == 0 and len(strings) > 2:
                current = strings[1] if strings[0] == "def" else strings[2] if strings[:2] == ["async", "def"] else (
                    current if strings[0] == "@" else None)
            elif line[0].start[1] == 0:
                current = None
            for i in range(len(strings) - 3):
                if strings[i] != "pytest" or strings[i + 1] != ".":
                    continue
                if strings[i + 2] == "mark" and strings[i + 3] == "." and i + 4 < len(strings) \
                        and strings[i + 4] in MARKS:
                    if strings[0] == "return" and current:
                        factories.setdefault(current, set()).add(rel)
                    elif target and target != "pytestmark" and i == 2:
                        aliases.setdefault(target, set()).add(rel)
                    else:
                        sites[rel] += 1
                elif strings[i + 2] in CALLS and strings[i + 3] in ("(", "."):
                    if strings[i + 3] == "." and strings[i + 4:i + 6] != ["Exception", "("]:
                        continue  # pytest.skip.Exception named (isinstance, except), not raised
                    if i and (strings[i - 1] == "except" or strings[i - 1] == "(" and strings[i - 2:i] == ["raises", "("]):
                        continue
                    sites[rel] += 1
    bound = {rel: [(binding_target(line), line) for line in lines if binding_target(line)] for rel, lines in files.items()}
    for _ in range(4):  # names bound to a factory call or to an alias, a few rounds deep
        for rel, found in bound.items():
            for target, line in found:
                value = [t.string for t in line[2:] if t.type == tokenize.NAME or t.string == "."]
                head = value[:1] + [v for k, v in enumerate(value[1:], 1) if value[k - 1] == "."]
                name = head[-1] if head else ""
                if target != "pytestmark" and (name in factories or name in aliases) and \
                        line[2 + 2 * (len(head) - 1)].string == name:
                    aliases.setdefault(target, set()).add(rel)
    used: Counter = Counter()
    for rel, lines in files.items():
        for line in lines:
            strings = [t.string for t in line]
            if strings[0] in ("import", "from") or strings[0] in ("def", "async"):
                continue
            target = binding_target(line)
            for k, tok in enumerate(line):
                if tok.type != tokenize.NAME or (tok.string not in aliases and tok.string not in factories):
                    continue
                if k and strings[k - 1] == ".":
                    if k < 2 or line[k - 2].type != tokenize.NAME:
                        continue  # attribute of something that is not a module name
                if target in aliases and k > 0:
                    used[tok.string] += 1  # the source of another alias: that alias's uses count
                    continue
                if k == 0 and target == tok.string:
                    continue  # its own definition
                if not in_mark_position(strings, k):
                    continue  # a local variable or parameter of the same name
                sites[rel] += 1
                used[tok.string] += 1
    for name, defined in list(aliases.items()) + list(factories.items()):
        if not used[name]:
            for rel in defined:
                sites[rel] += 1
    return sites


def main() -> None:
    root = Path(sys.argv[1])
    sites = count(root)
    print(f"{sum(sites.values())} sites in {len([f for f in sites if sites[f]])} files")
    if len(sys.argv) > 2:
        tool: Counter = Counter(row["file"] for row in csv.DictReader(open(sys.argv[2], encoding="utf-8")))
        print(f"fibench: {sum(tool.values())} sites")
        for rel in sorted(set(sites) | set(tool)):
            if sites[rel] != tool[rel]:
                print(f"  {rel}: independent {sites[rel]}, fibench {tool[rel]}")


if __name__ == "__main__":
    main()
