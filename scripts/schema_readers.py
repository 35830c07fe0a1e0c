#!/usr/bin/env python3
"""schema_readers.py - find, for every field of the config schema tables
(src/config/*.c), the code outside src/config/ that reads it.

Prints one line per leaf field: "path.key<TAB>file<TAB>needle<TAB>line", the
first place under src/ (src/config/ and src/dsl/ excluded: they load and
print config, they do not act on it) where the field's struct member
(`.member` / `->member`) or, for hand-loaded keys, its quoted name appears.
Fields with no reader print "-" and the script exits 1.

  scripts/schema_readers.py            # the table, with file:line
  scripts/schema_readers.py --list     # the checked-in form (no line numbers)

tests/data/config/schema_readers.txt is this list, reviewed by hand (a
generic member name can match an unrelated struct: the reviewed needle is
more specific); tests/unit/config/test_schema_readers.c fails when a schema
field has no entry there or its needle left the named file."""
import os, re, sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SKIP = ("src/config/", "src/dsl/")

def sources():
    out = []
    for d, _, fs in os.walk(os.path.join(ROOT, "src")):
        for f in fs:
            if f.endswith((".c", ".h", ".cc")):
                p = os.path.relpath(os.path.join(d, f), ROOT)
                if not p.startswith(SKIP):
                    out.append((p, open(os.path.join(ROOT, p), encoding="utf-8").read().split("\n")))
    return sorted(out)

FIELD = re.compile(r'CFG_F(STR|ENUM|BOOL|INT|I64|NUM|UNIT|DUR|SIZE|TOK|LIST|NODE|SUB)\(\s*(\w+)\s*,\s*"([^"]+)"\s*,\s*([\w.]+)'
                   r'|CFG_FCUSTOM\(\s*"([^"]+)"\s*,\s*([&\w]+)'
                   r'|NKEY\(\s*"([^"]+)"'
                   r'|\.key\s*=\s*(?:k|"([^"]+)")')

def call_args(txt, i):
    """Arguments of the call whose '(' is at txt[i]; returns (args, end)."""
    depth, cur, args, j = 0, "", [], i
    in_str = False
    while j < len(txt):
        c = txt[j]
        if in_str:
            cur += c
            if c == "\\":
                cur += txt[j + 1]
                j += 1
            elif c == '"':
                in_str = False
        elif c == '"':
            in_str = True
            cur += c
        elif c in "([{":
            depth += 1
            if depth > 1:
                cur += c
        elif c in ")]}":
            depth -= 1
            if depth == 0:
                args.append(cur.strip())
                return args, j + 1
            cur += c
        elif c == "," and depth == 1:
            args.append(cur.strip())
            cur = ""
        else:
            cur += c
        j += 1
    return args, j

def expand_local_macros(txt):
    """Expand the file's own table-writing macros (F_NAME, F_THR(d), PKEYS(...))
    so the entries they write are seen."""
    defs = {}
    for m in re.finditer(r"#define\s+(F_\w+|PKEYS|END)(\(([^)]*)\))?[ \t]*((?:[^\n]*\\\n)*[^\n]*)", txt):
        body = m.group(4).replace("\\\n", " ")
        params = [x.strip() for x in m.group(3).split(",")] if m.group(2) else None
        defs[m.group(1)] = (params, body)
    if not defs:
        return txt
    body_txt = re.sub(r"#define[^\n]*(\\\n[^\n]*)*", "", txt)
    for _ in range(3):
        out, i = [], 0
        rx = re.compile(r"\b(" + "|".join(map(re.escape, defs)) + r")\b")
        for m in rx.finditer(body_txt):
            if m.start() < i:
                continue
            params, body = defs[m.group(1)]
            out.append(body_txt[i:m.start()])
            if params is None:
                out.append(body)
                i = m.end()
            else:
                k = m.end()
                while k < len(body_txt) and body_txt[k].isspace():
                    k += 1
                args, end = call_args(body_txt, k)
                b = body
                if params == ["..."]:
                    b = b.replace("__VA_ARGS__", ", ".join(args))
                else:
                    for pn, av in zip(params, args):
                        b = re.sub(r"\b" + re.escape(pn) + r"\b", av, b)
                out.append(b)
                i = end
        out.append(body_txt[i:])
        body_txt = "".join(out)
    return body_txt

def tables():
    """(path, key, member or None, is_container) for every table entry."""
    res = []
    for f in sorted(os.listdir(os.path.join(ROOT, "src/config"))):
        if not f.endswith(".c"):
            continue
        txt = open(os.path.join(ROOT, "src/config", f), encoding="utf-8").read()
        macros = dict(re.findall(r"#define\s+(\w+)\s+(\w+_t)\b", txt))
        txt = expand_local_macros(txt)
        txt = re.sub(r"#define[^\n]*(\\\n[^\n]*)*", "", txt)  # macro bodies are not entries
        # table starts: either `const cfg_schema_t X = {"path"` or `[..] = {"path"` in arrays
        starts = [(m.start(), m.group(1)) for m in re.finditer(r'\{\s*"((?:[\w.\[\]<>]|\(top level\))+)"\s*,\s*\(const cfg_field_t\[\]\)', txt)]
        for i, (pos, path) in enumerate(starts):
            end = starts[i + 1][0] if i + 1 < len(starts) else len(txt)
            body = txt[pos:end]
            # cut the body at the table's terminator: `{0}}` or `END}`
            m_end = re.search(r"(\{\s*0\s*\}|END)\s*\}", body)
            if m_end:
                body = body[:m_end.end()]
            for m in FIELD.finditer(body):
                if m.group(3):
                    kind, ty, key, member = m.group(1), m.group(2), m.group(3), m.group(4)
                    res.append((path, key, member, kind == "SUB", macros.get(ty, ty)))
                elif m.group(5):
                    res.append((path, m.group(5), None, m.group(6) != "NULL", None))
                elif m.group(7):
                    res.append((path, m.group(7), None, False, None))
                elif m.group(8):
                    key = m.group(8)
                    rest = body[m.end():m.end() + 600]
                    nxt = re.search(r"\.key\s*=|CFG_F\w+\(", rest)
                    ent = rest[:nxt.start()] if nxt else rest
                    off = re.search(r"\.off\s*=\s*offsetof\(\s*(\w+)\s*,\s*([\w.]+)\s*\)", ent)
                    ty = re.search(r"\.type\s*=\s*CFG_F_(\w+)", ent)
                    sub = re.search(r"\.sub\s*=", ent)
                    container = bool(sub) and ty and ty.group(1) in ("SECTION", "CUSTOM")
                    res.append((path, key, off.group(2) if off else None, bool(container),
                                macros.get(off.group(1), off.group(1)) if off else None))
    return res

def find(srcs, needles, ty):
    hit = find_typed(srcs, needles, ty)
    if hit or not ty:
        return hit
    return find_typed(srcs, [n for n in needles if n.startswith("(")], None)

def find_typed(srcs, needles, ty):
    for nd in needles:
        rx = re.compile(nd)
        for p, lines in srcs:
            if ty and nd.startswith("(") and ty not in "\n".join(lines) and "." not in nd[8:]:
                continue  # a bare member name counts only where its struct type is named
            for i, ln in enumerate(lines):
                m = rx.search(ln)
                if m:
                    return p, i + 1, m.group(0)
    return None

def main():
    srcs = sources()
    missing = 0
    seen = set()
    for path, key, member, container, ty in tables():
        if container or (path, key) in seen:
            continue
        seen.add((path, key))
        needles = []
        if member:
            parts = member.split(".")
            if len(parts) > 1:
                needles.append(r"(\.|->)" + re.escape(".".join(parts[-2:])) + r"\b")
            needles.append(r"(\.|->)" + re.escape(parts[-1]) + r"\b")
        needles.append('"' + re.escape(key) + '"')
        needles = [n if n.startswith("(") else n for n in needles]
        hit = find(srcs, needles, ty)
        name = path + "." + key
        if not hit:
            missing += 1
            print(f"{name}\t-\t-\t-")
        elif "--list" in sys.argv:
            print(f"{name}\tread\t{hit[0]}\t{hit[2]}")
        else:
            print(f"{name}\t{hit[0]}\t{hit[2]}\t{hit[0]}:{hit[1]}")
    return 1 if missing else 0

if __name__ == "__main__":
    sys.exit(main())
