"""A similarity report for the instructor: which exercise cells look copied. Flags, never penalties.

Method (in the spirit of MOSS: Schleimer, Wilkerson and Aiken, "Winnowing: local algorithms for
document fingerprinting", SIGMOD 2003), per exercise:

1. **Normalise** each student's cell. It is parsed with :mod:`ast`; docstrings and other bare strings,
   comments, type annotations, ``pass``, ``...`` and ``print(...)`` statements are dropped. Every name
   the cell *binds* (function and class names, parameters, assigned, loop and comprehension variables,
   ``with``/``except`` targets, imports' ``as`` names) becomes a placeholder ``V0``, ``V1``, ... in order
   of first appearance; names the cell does not bind (``torch``, ``math``, ``len``, a helper of an
   earlier cell) and attribute names (``.logsumexp``, ``.sum``) are kept; numbers become ``NUM`` and
   strings ``STR``; keyword arguments are put in a fixed order. The cell becomes a sequence of tokens:
   the node types of a walk of its tree, the kept names and the placeholders (``x = torch.log(p)`` gives
   ``Assign V3 Call torch .log V1``). A cell that does not parse falls back to its :mod:`tokenize`
   stream, normalised the same way as far as tokens allow (names seen being bound become placeholders,
   keyword arguments are sorted, docstrings, prints and annotations dropped); it is then compared, in that
   token space, with every other cell, so a copy with a typo added is still found. A cell that does not
   even tokenize is skipped, with a note in the report.
2. **Fingerprint**: every k-gram of tokens is hashed (the first 8 bytes of BLAKE2b: stable across runs,
   unlike Python's salted ``hash``) and the hashes are *winnowed*: in each window of w consecutive
   k-gram hashes the (rightmost) minimum is kept. ``K = 5`` tokens is about half a line of code (a line
   is 8 to 15 node-level tokens), long enough that a k-gram says more than "a call of a name";
   ``W = 4`` keeps about 2 / (w + 1) = 40 % of the k-grams and guarantees that any shared run of at
   least w + k - 1 = 8 tokens, about one line, leaves a common fingerprint. Cells are short, so a
   denser sampling than MOSS's documents need costs nothing.
3. **Subtract the template** (MOSS's "base file"): every k-gram hash of the exercise's stub as handed
   out (all of them, not just the winnowed ones) is removed from every student's fingerprints, so the
   signature and docstring that everyone shares count for nothing; two untouched stubs score 0.
4. **Score** a pair by ``|A & B| / min(|A|, |B|)`` on those fingerprint sets (the Jaccard
   ``|A & B| / |A | B|`` is reported beside it). Only cells with at least ``min_tokens`` tokens *beyond the
   template* (tokens that no k-gram of the stub covers) are compared: a one- or two-line answer is the
   same in half the class, and such a match says nothing. ``MIN_TOKENS = 30``: the one-line answers of the
   course measure 11 to 26 tokens, the canonical two- and three-line ones (``log_w = log_joint(z) -
   log_q(z)``, ``return torch.logsumexp(log_w, 0) - math.log(K)``) 25 to 29, while a real five-to-ten-line
   answer has 40 to 70; the tests check realistic short answers against it. ``THRESHOLD = 0.8``: a renamed,
   commented, re-formatted copy keeps nearly all of its fingerprints (0.9 to 1.0 in the tests), while
   independent solutions of the same ten-line exercise share at most a line or two (0.0 to 0.35), so the
   threshold sits with a margin on both sides.
5. **Reference copies**: a cell scoring at least the threshold against the course's reference source
   (template subtracted too) is listed: "the reference's source with names changed".
6. **Byte-identical notebooks**: students whose submitted notebooks have the same sha256 are grouped.

Speed: fingerprints of each exercise go into an inverted index (fingerprint -> students). A pair can only
reach the threshold t if the smaller set A shares at least ``ceil(t |A|)`` fingerprints with the other,
so at least one of A's ``|A| - ceil(t |A|) + 1`` rarest fingerprints (a *prefix filter*); only the
students found under those are intersected. A class of 200 with 10 exercises takes under a second, most
of it parsing; a cell handed in by several students (the stub) is read once.
The result is the same as scoring every pair (the tests check that).

What it catches: renamed variables, reformatting, changed or removed comments and docstrings, added or
removed type annotations and prints, reordered keyword arguments, a copy of the reference, a copy with a
syntax error added. Reordered independent statements only partly: each statement's own k-grams survive,
but placeholders are numbered by first appearance, so moving a first use renames the later ones
(swapping the first two lines of a ten-line answer brings a copy down to about 0.55). What it does not
catch: a copy rewritten by hand (another loop structure, other library calls), a paraphrase by a language
model, a copy of an answer shorter than ``min_tokens``. What it cannot tell: two students who copied the
same outside source without ever meeting, or who both wrote the obvious answer at length. A high score
is a reason to read two cells side by side, never a proof and never a grade.
"""

from __future__ import annotations

import ast
import hashlib
import html
import io
import keyword
import math
import re
import textwrap
import tokenize
import warnings
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "K",
    "W",
    "THRESHOLD",
    "MIN_TOKENS",
    "Pair",
    "ReferenceCopy",
    "ExerciseStats",
    "SimilarityReport",
    "normalise",
    "fingerprints",
    "compare_class",
    "write_report",
]

K = 5  # tokens per k-gram: about half a line of node-level tokens
W = 4  # winnowing window: any common run of W + K - 1 = 8 tokens (about a line) is found
THRESHOLD = 0.8
MIN_TOKENS = 30

_SKIPPED_FIELDS = frozenset({"ctx", "type_comment", "annotation", "returns", "type_params", "type_ignores", "kind"})


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Pair:
    """Two students' cells of one exercise that look alike (``score`` >= the threshold)."""

    exercise: str
    student_a: str
    student_b: str
    score: float
    jaccard: float
    code_a: str
    code_b: str


@dataclass(frozen=True)
class ReferenceCopy:
    """A student's cell that looks like the course's reference source with names changed."""

    exercise: str
    student: str
    score: float
    code: str


@dataclass(frozen=True)
class ExerciseStats:
    """How many cells of one exercise were compared, and why the others were not."""

    exercise: str
    cells: int  # submitted cells (non-empty)
    compared: int  # cells with at least min_tokens tokens beyond the template
    short: int  # cells below min_tokens (untouched stubs, one-line answers)
    unparsed: int  # did not parse (a syntax error): compared by their token stream
    skipped: int  # could not even be tokenized
    pairs: int  # pairs compared: compared * (compared - 1) / 2
    flagged: int  # pairs at or above the threshold
    reference_compared: bool  # a reference source was given and is long enough to compare


@dataclass
class SimilarityReport:
    """Suspicious pairs, copies of the reference and identical notebooks of one class."""

    pairs: list[Pair]
    reference_copies: list[ReferenceCopy]
    identical: list[list[str]]
    threshold: float
    min_tokens: int
    stats: dict[str, ExerciseStats] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def flags(self) -> dict[str, list[str]]:
        """student -> short human-readable flags (only students with at least one)."""
        out: dict[str, list[str]] = defaultdict(list)
        alike: dict[tuple[str, str], list[tuple[float, str]]] = defaultdict(list)
        for p in self.pairs:
            alike[p.student_a, p.exercise].append((p.score, p.student_b))
            alike[p.student_b, p.exercise].append((p.score, p.student_a))
        for (student, exercise), others in alike.items():
            others.sort(key=lambda o: (-o[0], o[1]))
            named = _and([f"{o}'s ({score:.2f})" for score, o in others[:3]])
            more = f" and {len(others) - 3} more" if len(others) > 3 else ""
            out[student].append(f"{exercise}: similar to {named}{more}")
        for r in self.reference_copies:
            out[r.student].append(f"{r.exercise}: close to the reference's source ({r.score:.2f})")
        for group in self.identical:
            for s in group:
                others = [o for o in group if o != s]
                out[s].append("notebook byte-identical to " + _and([f"{o}'s" for o in others]))
        return dict(sorted(out.items()))


def reference_copies(cells: dict[str, dict[str, str]], references: dict[str, str],
                     answers: dict[str, str] | None = None, templates: dict[str, str] | None = None,
                     share: float = 0.8, min_specific: int = 6) -> list[ReferenceCopy]:
    """Cells that hold most of what is specific to the course's reference source.

    The reference in ``course_utils`` checks its inputs and handles cases an exercise's answer
    need not (``as_tensor``, shape checks, options); the natural answer (``answers``, the course's
    own solution cell) does not. So the fingerprints that matter are the reference's minus the
    natural answer's and the stub's: a cell holding at least ``share`` of them is a copy of the
    reference's source (names changed or not), while a student who wrote the natural answer is
    not flagged. An exercise whose reference has fewer than ``min_specific`` such fingerprints is
    skipped: there a copy cannot be told from an honest answer.
    """
    answers, templates = answers or {}, templates or {}
    found = []
    for exercise, source in sorted(references.items()):
        specific = set(fingerprints(source)[0])
        for other in (answers.get(exercise), templates.get(exercise)):
            if other:
                specific -= fingerprints(other)[0]
        if len(specific) < min_specific:
            continue
        for student in sorted(cells):
            code = cells[student].get(exercise)
            if code:
                score = len(specific & fingerprints(code)[0]) / len(specific)
                if score >= share:
                    found.append(ReferenceCopy(exercise, student, round(score, 4), code))
    return found


def _and(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


# --------------------------------------------------------------------------- normalisation


def _prepare(source: str) -> str:
    """Dedent, and comment out notebook magics and shell lines (``%time``, ``!pip``) so the cell parses."""
    lines = textwrap.dedent(source).splitlines()
    return "\n".join("# " + ln if ln.lstrip().startswith(("%", "!")) else ln for ln in lines) + "\n"


def _is_noise(stmt: ast.AST) -> bool:
    """Statements that say nothing about the answer: pass, docstrings and bare strings, ``...``, prints."""
    if isinstance(stmt, ast.Pass):
        return True
    if isinstance(stmt, ast.Expr):
        v = stmt.value
        if isinstance(v, ast.Constant) and (isinstance(v.value, str | bytes) or v.value is Ellipsis):
            return True
        if isinstance(v, ast.JoinedStr):
            return True
        if isinstance(v, ast.Call) and isinstance(v.func, ast.Name) and v.func.id == "print":
            return True
    return False


_FIELDS: dict[type, tuple[str, ...]] = {}


def _fields(t: type) -> tuple[str, ...]:
    """A node type's fields that carry code (not ``ctx``, annotations, type comments)."""
    fields = _FIELDS.get(t)
    if fields is None:
        fields = _FIELDS[t] = tuple(f for f in t._fields if f not in _SKIPPED_FIELDS)
    return fields


def _children(node: ast.AST) -> list[ast.AST]:
    out: list[ast.AST] = []
    for f in type(node)._fields:
        v = getattr(node, f, None)
        if type(v) is list:
            out += [x for x in v if isinstance(x, ast.AST)]
        elif isinstance(v, ast.AST):
            out.append(v)
    return out


def _bound_names(tree: ast.AST) -> tuple[set[str], set[str]]:
    """Names the cell binds, and those of them that are functions it defines."""
    bound: set[str] = set()
    functions: set[str] = set()
    stack = [tree]
    while stack:
        node = stack.pop()
        t = type(node)
        if t is ast.Name:
            if type(node.ctx) is not ast.Load:
                bound.add(node.id)
            continue
        if t is ast.FunctionDef or t is ast.AsyncFunctionDef:
            bound.add(node.name)
            functions.add(node.name)
        elif t is ast.ClassDef:
            bound.add(node.name)
        elif t is ast.arg:
            bound.add(node.arg)
        elif t is ast.alias:
            if node.asname:
                bound.add(node.asname)
            continue
        elif t is ast.ExceptHandler or t is ast.MatchAs or t is ast.MatchStar:
            if node.name:
                bound.add(node.name)
        elif t is ast.MatchMapping and node.rest:
            bound.add(node.rest)
        elif t is ast.Constant:
            continue
        stack += _children(node)
    return bound, functions


def _constant(value: object) -> str:
    if value is None or isinstance(value, bool):
        return str(value)
    if value is Ellipsis:
        return "..."
    if isinstance(value, str | bytes):
        return "STR"
    return "NUM"


class _Walker:
    """Turns a tree into tokens: node types, kept names, placeholders for bound names."""

    def __init__(self, bound: set[str], functions: set[str]):
        self.bound, self.functions = bound, functions
        self.placeholders: dict[str, str] = {}
        self.tokens: list[str] = []
        self.special = {
            ast.Name: lambda n: self.tokens.append(self.name(n.id)),
            ast.Constant: lambda n: self.tokens.append(_constant(n.value)),
            ast.JoinedStr: lambda n: self.tokens.append("STR"),  # an f-string: a message, whatever it formats
            ast.arg: lambda n: self.tokens.append(self.name(n.arg)),
            ast.Attribute: self.attribute,
            ast.AnnAssign: self.ann_assign,
            ast.Call: self.call,
            ast.Expr: self.expr,
            ast.Pass: lambda n: None,
        }

    def name(self, ident: str) -> str:
        if ident not in self.bound:
            return ident
        placeholder = self.placeholders.get(ident)
        if placeholder is None:
            placeholder = self.placeholders[ident] = f"V{len(self.placeholders)}"
        return placeholder

    def visit(self, node: ast.AST) -> None:
        t = type(node)
        special = self.special.get(t)
        if special is not None:
            special(node)
            return
        emit = self.tokens.append
        emit(t.__name__)
        for f in _fields(t):
            v = getattr(node, f, None)
            if type(v) is list:
                for item in v:
                    if type(item) is str:  # Global.names, MatchClass.kwd_attrs
                        emit(self.name(item))
                    elif isinstance(item, ast.AST):
                        self.visit(item)
            elif type(v) is str:  # an identifier: FunctionDef.name, alias.name, ImportFrom.module, ...
                emit(self.name(v))
            elif isinstance(v, ast.AST):
                self.visit(v)
            # else: None, or an int (ImportFrom.level, comprehension.is_async)

    def expr(self, node: ast.Expr) -> None:
        if not _is_noise(node):
            self.tokens.append("Expr")
            self.visit(node.value)

    def attribute(self, node: ast.Attribute) -> None:
        self.visit(node.value)
        self.tokens.append("." + node.attr)

    def ann_assign(self, node: ast.AnnAssign) -> None:  # `x: T = v` is `x = v`; a bare `x: T` is nothing
        if node.value is not None:
            self.tokens.append("Assign")
            self.visit(node.target)
            self.visit(node.value)

    def call(self, node: ast.Call) -> None:
        self.tokens.append("Call")
        self.visit(node.func)
        for arg in node.args:
            self.visit(arg)
        own = type(node.func) is ast.Name and node.func.id in self.functions

        def key(kw: ast.keyword) -> str:
            if kw.arg is None:
                return "**"
            return self.name(kw.arg) if own else kw.arg

        for kw in sorted(node.keywords, key=key):
            self.tokens.append("kw=" + key(kw))
            self.visit(kw.value)


def _ast_tokens(source: str) -> list[str]:
    """Normalised tokens of a cell that parses (raises SyntaxError otherwise)."""
    with warnings.catch_warnings():  # an invalid escape in a student's string ("\\l") is not our concern
        warnings.simplefilter("ignore")
        tree = ast.parse(_prepare(source))
    bound, functions = _bound_names(tree)
    walker = _Walker(bound, functions)
    for stmt in tree.body:
        walker.visit(stmt)
    return walker.tokens


_SKIP_TOKENS = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
                tokenize.ENCODING, tokenize.ENDMARKER}
_ASSIGN_OPS = {"=", "+=", "-=", "*=", "/=", "//=", "%=", "**=", "@=", "&=", "|=", "^=", ">>=", "<<="}
_OPEN, _CLOSE = "([{", ")]}"


_FSTRING_START = getattr(tokenize, "FSTRING_START", None)  # Python 3.12+: an f-string is many tokens
_FSTRING_END = getattr(tokenize, "FSTRING_END", None)


def _tokens_of(text: str) -> tuple[list[tokenize.TokenInfo], str | None]:
    out: list[tokenize.TokenInfo] = []
    fstring: list[tokenize.TokenInfo] = []  # the open f-strings' first tokens (3.12+): one STRING, as before
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if _FSTRING_START is not None and tok.type == _FSTRING_START:
                fstring.append(tok)
            elif fstring and tok.type == _FSTRING_END:
                first = fstring.pop()
                if not fstring:
                    out.append(tokenize.TokenInfo(tokenize.STRING, 'f""', first.start, tok.end, first.line))
            elif not fstring and tok.type not in _SKIP_TOKENS:
                out.append(tok)
    except (tokenize.TokenError, SyntaxError) as err:  # IndentationError is a SyntaxError
        return out, str(err.args[0] if err.args else err)
    return out, None


def _raw_tokens(source: str) -> tuple[list[tokenize.TokenInfo], str | None]:
    """The tokens of a cell, as far as tokenize gets, and the error that stopped it (or None).

    Tokenize stops at an inconsistent indentation; the indentation says nothing here (INDENT and DEDENT are
    dropped), so the cell is then tokenized again with its lines' indentation removed.
    """
    text = _prepare(source)
    toks, err = _tokens_of(text)
    if err is not None and "indent" in err:
        flat, flat_err = _tokens_of("\n".join(line.lstrip() for line in text.splitlines()) + "\n")
        if len(flat) > len(toks):
            return flat, err
    return toks, err


def _is_name(tok: tokenize.TokenInfo) -> bool:
    return tok.type == tokenize.NAME and not keyword.iskeyword(tok.string)


def _restarts(toks: list[tokenize.TokenInfo], j: int, col: int) -> bool:
    """Does token ``j`` start a new statement inside brackets left open (a syntax error)? It begins a line at or
    left of ``col``, the indentation of the line that opened them, after a line that looks complete."""
    prev = toks[j - 1]
    return (toks[j].start[0] > prev.end[0] and toks[j].start[1] <= col and toks[j].string not in _CLOSE
            and (prev.type in (tokenize.NAME, tokenize.NUMBER, tokenize.STRING) or prev.string in ")]}:")
            and not prev.line.rstrip().endswith("\\"))


def _matching(toks: list[tokenize.TokenInfo], i: int, col: int) -> int:
    """Index of the bracket closing the one at ``i``; if it is never closed, the last token before the new
    statement (see :func:`_restarts`; ``col``: the indentation of the bracket's line)."""
    depth = 0
    for j in range(i, len(toks)):
        if j > i and depth and _restarts(toks, j, col):
            return j - 1
        if toks[j].string in _OPEN:
            depth += 1
        elif toks[j].string in _CLOSE:
            depth -= 1
            if depth == 0:
                return j
    return len(toks) - 1


def _stream_tokens(toks: list[tokenize.TokenInfo]) -> list[str]:
    """Normalised tokens of a token stream: for a cell that does not parse.

    The same normalisation as the AST's where tokens allow: names seen being bound (assignment targets,
    after ``def``, ``class``, ``as``, ``for ... in``, ``lambda ... :``, a ``def``'s parameters; not a call's
    keywords) become placeholders; other names and attribute names are kept; numbers are ``NUM``, strings
    ``STR``; bare strings (docstrings), ``print(...)`` statements and a ``def``'s annotations are dropped.
    An unclosed bracket is taken to end where a line starts at or left of its own line's indentation.
    """
    n = len(toks)
    s = [t.string for t in toks]
    drop = [False] * n
    bound: set[str] = set()
    stack: list[tuple[int, bool]] = []  # open brackets: (indentation of their line, is a call's)
    line_col = 0
    mode = None  # "for" until `in`, "lambda" until `:`
    i = 0
    while i < n:
        tok = toks[i]
        new_line = i == 0 or (tok.start[0] > toks[i - 1].end[0] and not toks[i - 1].line.rstrip().endswith("\\"))
        if new_line:
            while stack and _restarts(toks, i, stack[-1][0]):
                stack.pop()  # never closed (the syntax error): this line starts a new statement
            if not stack:
                line_col = tok.start[1]
        at_start = new_line and not stack
        nxt = s[i + 1] if i + 1 < n else ""
        if at_start and tok.type == tokenize.STRING and (i + 1 == n or toks[i + 1].start[0] > tok.end[0]):
            drop[i] = True  # a docstring or a bare string
        elif at_start and _is_name(tok) and nxt == ":":  # `x: T = v` is `x = v`; a bare `x: T` is nothing
            end = i + 1
            while end + 1 < n and toks[end + 1].start[0] == tok.start[0] and s[end + 1] != "=":
                end += 1
            if end + 1 < n and s[end + 1] == "=":
                bound.add(s[i])
                drop[i + 1:end + 1] = [True] * (end - i)
            else:
                drop[i:end + 1] = [True] * (end + 1 - i)
            i = end + 1
            continue
        elif at_start and s[i] == "print" and nxt == "(":
            j = _matching(toks, i + 1, tok.start[1])
            drop[i:j + 1] = [True] * (j + 1 - i)
            i = j + 1
            continue
        elif s[i] == "def" and i + 1 < n and _is_name(toks[i + 1]):
            bound.add(nxt)
            if i + 2 < n and s[i + 2] == "(":
                j = _matching(toks, i + 2, tok.start[1])
                depth, k = 0, i + 2
                while k <= j:
                    if s[k] in _OPEN:
                        depth += 1
                    elif s[k] in _CLOSE:
                        depth -= 1
                    elif depth == 1 and _is_name(toks[k]) and s[k - 1] in ("(", ",", "*", "**"):
                        bound.add(s[k])
                    elif depth == 1 and s[k] == ":":  # an annotation, up to the next `,`, `=` or `)`
                        end = k
                        while end + 1 <= j and not (s[end + 1] in (",", "=") and depth == 1) and end + 1 != j:
                            end += 1
                            depth += (s[end] in _OPEN) - (s[end] in _CLOSE)
                        drop[k:end + 1] = [True] * (end + 1 - k)
                        k = end
                    k += 1
                if j + 1 < n and s[j + 1] == "->":  # a return annotation, up to the `:`
                    end = j + 1
                    while end + 1 < n and s[end + 1] != ":":
                        end += 1
                    drop[j + 1:end + 1] = [True] * (end - j)
                i = j + 1
                continue
        elif s[i] in _OPEN:
            prev = toks[i - 1] if i else None
            is_call = prev is not None and (_is_name(prev) or prev.string in (")", "]"))
            stack.append((line_col, is_call))
        elif s[i] in _CLOSE:
            if stack:
                stack.pop()
        elif s[i] in ("for", "lambda"):
            mode = s[i]
        elif mode == "for" and s[i] == "in" or mode == "lambda" and s[i] == ":":
            mode = None
        elif _is_name(tok) and (i == 0 or s[i - 1] != "."):
            if mode is not None or (i and s[i - 1] in ("class", "as")) or nxt == ":=":
                bound.add(s[i])
            elif nxt in _ASSIGN_OPS and not (stack and stack[-1][1]):  # not a call's keyword
                bound.add(s[i])
            elif at_start and nxt == ",":  # a, b = ...: every name before the `=`
                j = i
                while j + 1 < n and (_is_name(toks[j]) or s[j] == ",") and s[j + 1] not in _ASSIGN_OPS:
                    j += 1
                if j + 1 < n and s[j + 1] in _ASSIGN_OPS:
                    bound.update(s[k] for k in range(i, j + 1) if _is_name(toks[k]))
        i += 1
    out: list[str] = []
    for i, tok in enumerate(toks):
        if drop[i]:
            continue
        if tok.type == tokenize.NAME:
            if out and i and s[i - 1] == "." and not drop[i - 1]:
                out[-1] = "." + s[i]
            elif s[i] in bound and not keyword.iskeyword(s[i]):
                out.append(_BOUND + s[i])
            else:
                out.append(s[i])
        elif tok.type == tokenize.NUMBER:
            out.append("NUM")
        elif tok.type == tokenize.STRING:
            out.append("STR")
        elif s[i].strip() and s[i].isprintable():
            out.append(s[i].strip())
    placeholders: dict[str, str] = {}  # numbered once the keywords are in their order, as in the AST's walk
    return [placeholders.setdefault(t, f"V{len(placeholders)}") if t.startswith(_BOUND) else t
            for t in _sort_keywords(out)]


_BOUND = "\x00"  # marks a bound name until it gets its placeholder


def _sort_keywords(tokens: list[str]) -> list[str]:
    """Each call's arguments in a fixed order: the positional ones as written, then the keywords by name."""
    out: list[str] = []
    i = 0
    while i < len(tokens):
        out.append(tokens[i])
        i += 1
        callee = out[-2] if len(out) > 1 else ""
        if out[-1] != "(" or not (callee in (")", "]") or callee[:1].isalpha() or callee[:1] in "._" + _BOUND):
            continue
        depth, close = 1, None
        for j in range(i, len(tokens)):
            depth += (tokens[j] in _OPEN) - (tokens[j] in _CLOSE)
            if depth == 0:
                close = j
                break
        if close is None:  # never closed: left as written
            continue
        args: list[list[str]] = [[]]
        depth = 0
        for t in _sort_keywords(tokens[i:close]):
            depth += (t in _OPEN) - (t in _CLOSE)
            if t == "," and depth == 0:
                args.append([])
            else:
                args[-1].append(t)
        keywords = sorted((a for a in args if len(a) > 1 and a[1] == "="), key=lambda a: a[0])
        ordered = [a for a in args if a and not (len(a) > 1 and a[1] == "=")] + keywords
        for k, arg in enumerate(ordered):
            out += ([","] if k else []) + arg
        out.append(")")
        i = close + 1
    return out


def normalise(source: str) -> list[str]:
    """The normalised token sequence of a cell (its token stream's if it does not parse)."""
    try:
        return _ast_tokens(source)
    except (SyntaxError, ValueError):  # ValueError: a null byte in the source
        return _stream_tokens(_raw_tokens(source)[0])


def _hash(gram: tuple[str, ...]) -> int:
    return int.from_bytes(hashlib.blake2b("\x1f".join(gram).encode(), digest_size=8).digest(), "big")


def _kgram_hashes(tokens: list[str], k: int = K) -> list[int]:
    if not tokens:
        return []
    if len(tokens) < k:
        return [_hash(tuple(tokens))]
    return [_hash(tuple(tokens[i:i + k])) for i in range(len(tokens) - k + 1)]


def _winnow(hashes: list[int], w: int = W) -> set[int]:
    """The rightmost minimum of every window of ``w`` consecutive hashes (Schleimer et al., 2003)."""
    if len(hashes) <= w:
        return {min(hashes)} if hashes else set()
    picked: set[int] = set()
    for start in range(len(hashes) - w + 1):
        window = hashes[start:start + w]
        low = min(window)
        picked.add(window[w - 1 - window[::-1].index(low)])
    return picked


def fingerprints(source: str, template: str | None = None) -> tuple[frozenset[int], int]:
    """A cell's winnowed fingerprints less the template's k-grams, and its token count beyond the template."""
    cell = _fingerprint_cell(source, _Template(template))
    return cell.fps, cell.beyond


# --------------------------------------------------------------------------- per-cell data


class _Template:
    """All k-gram hashes of a stub, in both token spaces (AST and token stream)."""

    def __init__(self, source: str | None):
        self.ast: set[int] = set()
        self.stream: set[int] = set()
        if source:
            try:
                self.ast = set(_kgram_hashes(_ast_tokens(source)))
            except (SyntaxError, ValueError):
                pass
            self.stream = set(_kgram_hashes(_stream_tokens(_raw_tokens(source)[0])))


def _beyond(tokens: list[str], hashes: list[int], base: set[int], k: int = K) -> int:
    """How many tokens no k-gram of the template covers."""
    covered = [False] * len(tokens)
    for i, h in enumerate(hashes):
        if h in base:
            covered[i:i + k] = [True] * len(covered[i:i + k])
    return covered.count(False)


@dataclass
class _Cell:
    source: str
    parsed: bool  # fps/beyond are in the AST token space
    fps: frozenset[int] = frozenset()
    beyond: int = 0
    stream_fps: frozenset[int] = frozenset()  # token-stream space: set for unparsed cells, lazily for others
    stream_beyond: int = 0
    error: str | None = None
    readable: bool = True  # False: not even one token


def _fingerprint_cell(source: str, template: _Template) -> _Cell:
    try:
        tokens = _ast_tokens(source)
    except (SyntaxError, ValueError) as err:
        cell = _Cell(source, parsed=False, error=f"line {getattr(err, 'lineno', '?')}: {getattr(err, 'msg', err)}")
        _add_stream(cell, template)
        cell.fps, cell.beyond = cell.stream_fps, cell.stream_beyond
        return cell
    hashes = _kgram_hashes(tokens)
    return _Cell(source, parsed=True, fps=frozenset(_winnow(hashes) - template.ast),
                 beyond=_beyond(tokens, hashes, template.ast))


def _add_stream(cell: _Cell, template: _Template) -> None:
    toks, err = _raw_tokens(cell.source)
    tokens = _stream_tokens(toks)
    cell.readable = bool(tokens)
    hashes = _kgram_hashes(tokens)
    cell.stream_fps = frozenset(_winnow(hashes) - template.stream)
    # token-stream tokens are a little finer than node-level ones (brackets, commas): about 1.15 per node token
    cell.stream_beyond = int(_beyond(tokens, hashes, template.stream) / 1.15)
    if err and cell.error is None:
        cell.error = err


# --------------------------------------------------------------------------- comparing a class


def _natural(key: str) -> list:
    """'1.10' after '1.9': exercise ids sorted by their numbers."""
    return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"(\d+)", key) if p]


def _score(a: frozenset[int], b: frozenset[int]) -> tuple[float, float]:
    if not a or not b:
        return 0.0, 0.0
    inter = len(a & b)
    return inter / min(len(a), len(b)), inter / (len(a) + len(b) - inter)


def _candidates(sets: dict[str, frozenset[int]], threshold: float) -> set[tuple[str, str]]:
    """Pairs that may reach the threshold: an inverted index probed with each set's prefix of rare fingerprints.

    For ``|A| <= |B|``, ``|A & B| / |A| >= t`` needs ``|A & B| >= o = ceil(t |A|)``, so one of any
    ``|A| - o + 1`` elements of A is in B; taking A's rarest ones keeps the lists short.
    """
    df: Counter[int] = Counter()
    index: dict[int, list[str]] = defaultdict(list)
    for student, fps in sets.items():
        df.update(fps)
        for fp in fps:
            index[fp].append(student)
    out: set[tuple[str, str]] = set()
    for a, fps in sets.items():
        need = max(1, math.ceil(threshold * len(fps) - 1e-9))
        prefix = sorted(fps, key=lambda fp: (df[fp], fp))[: max(0, len(fps) - need + 1)]
        size = (len(fps), a)
        for fp in prefix:
            for b in index[fp]:
                if (len(sets[b]), b) > size:  # probed from the smaller side (ties: by name)
                    out.add((a, b) if a < b else (b, a))
    return out


def _group_identical(notebooks: dict[str, bytes | list[bytes]]) -> list[list[str]]:
    """Students linked by a notebook of the same sha256 (joined transitively), each group sorted."""
    by_hash: dict[str, set[str]] = defaultdict(set)
    for student, value in notebooks.items():
        for data in [value] if isinstance(value, bytes | bytearray) else value:
            if data:  # an empty file is no evidence
                by_hash[hashlib.sha256(data).hexdigest()].add(student)
    parent: dict[str, str] = {}

    def root(s: str) -> str:
        while parent.setdefault(s, s) != s:
            s = parent[s]
        return s

    for students in by_hash.values():
        first, *rest = sorted(students)
        for s in rest:
            parent[root(s)] = root(first)
    groups: dict[str, list[str]] = defaultdict(list)
    for s in parent:
        groups[root(s)].append(s)
    return sorted(sorted(g) for g in groups.values() if len(g) > 1)


def compare_class(
    cells: dict[str, dict[str, str]],
    templates: dict[str, str] | None = None,
    references: dict[str, str] | None = None,
    notebooks: dict[str, bytes | list[bytes]] | None = None,
    threshold: float = THRESHOLD,
    min_tokens: int = MIN_TOKENS,
) -> SimilarityReport:
    """Compare every pair of students' cells of each exercise; see the module's docstring for the method.

    Args:
        cells: student -> {exercise id -> the source of the student's exercise cell}.
        templates: exercise id -> the stub cell as handed out (its k-grams are subtracted).
        references: exercise id -> the course's reference source (students close to it are listed).
        notebooks: student -> the raw bytes of the submitted notebook, or a list of them.
        threshold: the score (overlap over the smaller fingerprint set) at which a pair is flagged.
        min_tokens: cells with fewer normalised tokens beyond the template are not compared.
    """
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    if min_tokens < 0:
        raise ValueError(f"min_tokens must be >= 0, got {min_tokens}")
    templates, references = templates or {}, references or {}
    pairs: list[Pair] = []
    copies: list[ReferenceCopy] = []
    notes: list[str] = []
    stats: dict[str, ExerciseStats] = {}
    exercise_ids = sorted({ex for by_ex in cells.values() for ex in by_ex} | set(references), key=_natural)
    for ex in exercise_ids:
        template = _Template(templates.get(ex))
        found: dict[str, _Cell] = {}
        cache: dict[str, _Cell] = {}  # a cell handed in by several students (the stub) is read once
        skipped = 0
        for student in sorted(cells):
            source = cells[student].get(ex)
            if not isinstance(source, str) or not source.strip():
                continue
            cell = cache.get(source)
            if cell is None:
                cell = cache[source] = _fingerprint_cell(source, template)
            if not cell.parsed:
                if not cell.readable:
                    skipped += 1
                    notes.append(f"{ex}: {student}'s cell could not be read ({cell.error}); skipped")
                    continue
                notes.append(f"{ex}: {student}'s cell does not parse ({cell.error}); compared by its token stream")
            found[student] = cell
        eligible = {s: c for s, c in found.items() if c.beyond >= min_tokens and c.fps}
        parsed = {s: c.fps for s, c in eligible.items() if c.parsed}
        unparsed = sorted(s for s, c in eligible.items() if not c.parsed)

        scored: dict[tuple[str, str], tuple[float, float]] = {}
        for a, b in _candidates(parsed, threshold):
            scored[a, b] = _score(parsed[a], parsed[b])
        for a in unparsed:  # a cell that does not parse: compared with everyone in the token-stream space
            for b in eligible:
                if b == a or (b in unparsed and b < a):
                    continue
                if eligible[b].parsed and not eligible[b].stream_fps:
                    _add_stream(eligible[b], template)
                scored[min(a, b), max(a, b)] = _score(eligible[a].stream_fps, eligible[b].stream_fps)
        flagged = [
            Pair(ex, a, b, round(score, 4), round(jac, 4), found[a].source, found[b].source)
            for (a, b), (score, jac) in scored.items() if score >= threshold - 1e-12
        ]
        flagged.sort(key=lambda p: (-p.score, p.student_a, p.student_b))
        pairs.extend(flagged)

        ref_compared = False
        if ex in references and references[ex]:
            ref = _fingerprint_cell(references[ex], template)
            if ref.beyond >= min_tokens and ref.fps:
                ref_compared = True
                for student in sorted(eligible):
                    cell = eligible[student]
                    if cell.parsed == ref.parsed:
                        score = _score(cell.fps, ref.fps)[0]
                    else:
                        for c in (cell, ref):
                            if not c.stream_fps:
                                _add_stream(c, template)
                        score = _score(cell.stream_fps, ref.stream_fps)[0]
                    if score >= threshold - 1e-12:
                        copies.append(ReferenceCopy(ex, student, round(score, 4), cell.source))
            else:
                notes.append(f"{ex}: the reference source is shorter than min_tokens beyond the template; "
                             "not compared")
        n = len(eligible)
        stats[ex] = ExerciseStats(
            exercise=ex, cells=len(found) + skipped, compared=n, short=len(found) - n,
            unparsed=sum(not c.parsed for c in found.values()), skipped=skipped, pairs=n * (n - 1) // 2,
            flagged=len(flagged),
            reference_compared=ref_compared,
        )
    copies.sort(key=lambda r: (_natural(r.exercise), -r.score, r.student))
    identical = _group_identical(notebooks) if notebooks else []
    return SimilarityReport(pairs, copies, identical, threshold, min_tokens, stats, notes)


# --------------------------------------------------------------------------- report files


_DISCLAIMER = ("These are flags for a human to look at, never automatic penalties: a high score is a reason to "
               "read two cells side by side, not a proof. Short answers (fewer than {min_tokens} normalised "
               "tokens beyond the exercise's stub) are not compared, since they are naturally the same across "
               "a class.")


def _summary(report: SimilarityReport) -> str:
    total = sum(s.pairs for s in report.stats.values())
    return (f"{total} pairs compared over {len(report.stats)} exercises, {len(report.pairs)} at or above the "
            f"threshold {report.threshold:.2f} (min_tokens {report.min_tokens}); "
            f"{len(report.reference_copies)} close to the reference; "
            f"{len(report.identical)} groups of byte-identical notebooks.")


def _stats_row(s: ExerciseStats) -> list[str]:
    return [s.exercise, str(s.cells), str(s.compared), str(s.short), str(s.unparsed + s.skipped),
            str(s.pairs), str(s.flagged), "yes" if s.reference_compared else "no"]


_STATS_HEADER = ["exercise", "cells", "compared", "too short", "did not parse", "pairs compared",
                 "above threshold", "reference compared"]


def _fence(code: str) -> str:
    longest = max((len(m) for m in re.findall(r"`+", code)), default=0)
    return "`" * max(3, longest + 1)


def _markdown(report: SimilarityReport) -> str:
    lines = ["# Similarity report", "", "> " + _DISCLAIMER.format(min_tokens=report.min_tokens), "",
             _summary(report), ""]
    lines += ["| " + " | ".join(_STATS_HEADER) + " |", "|" + "---|" * len(_STATS_HEADER)]
    lines += ["| " + " | ".join(_stats_row(s)) + " |" for s in report.stats.values()]
    lines.append("")

    def block(code: str) -> list[str]:
        fence = _fence(code)
        return [fence + "python", code.rstrip("\n"), fence, ""]

    for ex in report.stats:
        pairs = [p for p in report.pairs if p.exercise == ex]
        refs = [r for r in report.reference_copies if r.exercise == ex]
        if not pairs and not refs:
            continue
        lines += [f"## Exercise {ex}", ""]
        for p in pairs:
            lines += [f"### {p.student_a} and {p.student_b}: score {p.score:.2f} (Jaccard {p.jaccard:.2f})", ""]
            lines += [f"**{p.student_a}**", ""] + block(p.code_a) + [f"**{p.student_b}**", ""] + block(p.code_b)
        for r in refs:
            lines += [f"### {r.student}: close to the reference's source, score {r.score:.2f}", ""] + block(r.code)
    lines += ["## Byte-identical notebooks", ""]
    lines += [f"- {', '.join(g)}" for g in report.identical] or ["None."]
    if report.notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in report.notes]
    return "\n".join(lines) + "\n"


_CSS = """body { font-family: sans-serif; margin: 2em; }
.disclaimer { background: #fff8e0; border-left: 4px solid #e0a000; padding: .5em 1em; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: .3em .6em; text-align: left; vertical-align: top; }
table.pair { width: 100%; table-layout: fixed; }
pre { margin: 0; white-space: pre-wrap; font-size: 90%; }"""


def _html(report: SimilarityReport) -> str:
    e = html.escape
    parts = ["<!doctype html>", '<html lang="en"><head><meta charset="utf-8"><title>Similarity report</title>',
             f"<style>{_CSS}</style></head><body>", "<h1>Similarity report</h1>",
             f'<p class="disclaimer">{e(_DISCLAIMER.format(min_tokens=report.min_tokens))}</p>',
             f"<p>{e(_summary(report))}</p>",
             "<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in _STATS_HEADER) + "</tr>"]
    parts += ["<tr>" + "".join(f"<td>{e(c)}</td>" for c in _stats_row(s)) + "</tr>" for s in report.stats.values()]
    parts.append("</table>")
    for ex in report.stats:
        pairs = [p for p in report.pairs if p.exercise == ex]
        refs = [r for r in report.reference_copies if r.exercise == ex]
        if not pairs and not refs:
            continue
        parts.append(f"<h2>Exercise {e(ex)}</h2>")
        for p in pairs:
            parts += [f"<h3>{e(p.student_a)} and {e(p.student_b)}: score {p.score:.2f} "
                      f"(Jaccard {p.jaccard:.2f})</h3>",
                      f'<table class="pair"><tr><th>{e(p.student_a)}</th><th>{e(p.student_b)}</th></tr>',
                      f"<tr><td><pre>{e(p.code_a)}</pre></td><td><pre>{e(p.code_b)}</pre></td></tr></table>"]
        for r in refs:
            parts += [f"<h3>{e(r.student)}: close to the reference's source, score {r.score:.2f}</h3>",
                      f"<pre>{e(r.code)}</pre>"]
    parts.append("<h2>Byte-identical notebooks</h2>")
    if report.identical:
        parts.append("<ul>" + "".join(f"<li>{e(', '.join(g))}</li>" for g in report.identical) + "</ul>")
    else:
        parts.append("<p>None.</p>")
    if report.notes:
        parts += ["<h2>Notes</h2>", "<ul>" + "".join(f"<li>{e(n)}</li>" for n in report.notes) + "</ul>"]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_report(report: SimilarityReport, out: Path) -> list[Path]:
    """Write ``out/similarity.md`` and ``out/similarity.html``; returns their paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    md, page = out / "similarity.md", out / "similarity.html"
    md.write_text(_markdown(report), encoding="utf-8")
    page.write_text(_html(report), encoding="utf-8")
    return [md, page]
