"""Measurements on generated samples: does the model close what it opens?

Whether a model learns to close ``[[links]]``, XML tags, ``\\begin{..}``/``\\end{..}`` and C braces, to
indent kernel code with tabs and to invent names not in its training set: these functions turn such
questions into counts. They are pure functions of strings, so the same code scores model
samples and the training text itself (the reference a sample should be compared against).

Every closure measure uses the same vocabulary. Scanning left to right with a stack, each pairing
attempt ends in exactly one of:

* ``matched``    -- a closer that closes the innermost open item of the same kind;
* ``mismatched`` -- a closer of another kind than the innermost open item (a
  ``\\begin{proof}`` ... ``\\end{lemma}``), when that kind is not open at all further out;
* ``unclosed``   -- an opener still open at the end of the text, or skipped over by a closer that
  matched something further out (``<a><b></a>`` leaves ``b`` unclosed and matches ``a``);
* ``stray``      -- a closer with nothing open.

``rate`` is ``matched / (matched + mismatched + unclosed + stray)``: the share of pairing attempts
that came out right, or ``None`` when the text has nothing to pair.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field

from charlm.errors import CharlmError

NATS_TO_BITS: float = 1.0 / math.log(2.0)

# How many examples of mismatches / novel lines a result keeps: enough to show, small enough for JSON.
MAX_EXAMPLES = 10


def bits(nats: float) -> float:
    """Convert a loss or entropy in nats to bits (nats / ln 2)."""
    return nats * NATS_TO_BITS


def _rate(good: int, total: int) -> float | None:
    return good / total if total else None


@dataclass
class Closure:
    """Stack-matching outcome for one family of paired constructs (see module docstring)."""

    opened: int = 0
    matched: int = 0
    mismatched: int = 0
    unclosed: int = 0
    stray: int = 0
    max_depth: int = 0
    examples: list[tuple[str, str]] = field(default_factory=list)  # mismatched (opened, closed) pairs

    @property
    def attempts(self) -> int:
        return self.matched + self.mismatched + self.unclosed + self.stray

    @property
    def rate(self) -> float | None:
        return _rate(self.matched, self.attempts)

    @property
    def balanced(self) -> bool:
        """True when every opener was matched and nothing else happened (vacuously true for no pairs)."""
        return self.mismatched == self.unclosed == self.stray == 0

    def as_dict(self) -> dict:
        return {**asdict(self), "examples": [list(e) for e in self.examples],
                "rate": self.rate, "balanced": self.balanced}


def pool(closures: Sequence[Closure]) -> dict:
    """Counts of several texts' closures added up, the pooled rate, and the first mismatched pairs."""
    keys = ("matched", "mismatched", "unclosed", "stray")
    out: dict = {k: sum(getattr(c, k) for c in closures) for k in keys}
    attempts = sum(out.values())
    out["attempts"], out["rate"] = attempts, _rate(out["matched"], attempts)
    out["examples"] = [list(e) for c in closures for e in c.examples][:MAX_EXAMPLES]
    return out


class _Matcher:
    """The shared stack discipline behind every closure measure."""

    def __init__(self) -> None:
        self.stack: list[str] = []
        self.result = Closure()

    def open(self, kind: str) -> None:
        self.stack.append(kind)
        self.result.opened += 1
        self.result.max_depth = max(self.result.max_depth, len(self.stack))

    def close(self, kind: str) -> None:
        r = self.result
        if not self.stack:
            r.stray += 1
        elif self.stack[-1] == kind:
            self.stack.pop()
            r.matched += 1
        elif kind in self.stack:
            # Recover like an HTML parser: the closer names something open further out, so the
            # items above it were forgotten, not the closer invented.
            while self.stack[-1] != kind:
                self.stack.pop()
                r.unclosed += 1
            self.stack.pop()
            r.matched += 1
        else:
            opened = self.stack.pop()
            r.mismatched += 1
            if len(r.examples) < MAX_EXAMPLES:
                r.examples.append((opened, kind))

    def finish(self) -> Closure:
        self.result.unclosed += len(self.stack)
        self.stack.clear()
        return self.result


# --------------------------------------------------------------------------- wiki markup and XML


@dataclass
class WikiMarkupClosure:
    links: Closure  # [[ ... ]]
    templates: Closure  # {{ ... }}
    xml: Closure  # <tag ...> ... </tag>
    xml_self_closing: int  # <tag/>: always fine, counted so a sample of only these isn't "empty"

    @property
    def rate(self) -> float | None:
        """Pooled over links, templates and XML tags."""
        parts = (self.links, self.templates, self.xml)
        return _rate(sum(p.matched for p in parts), sum(p.attempts for p in parts))

    def as_dict(self) -> dict:
        return {"links": self.links.as_dict(), "templates": self.templates.as_dict(),
                "xml": self.xml.as_dict(), "xml_self_closing": self.xml_self_closing, "rate": self.rate}


_WIKI_TOKEN = re.compile(r"\[\[|\]\]|\{\{|\}\}")
# Comments, processing instructions, DOCTYPE and CDATA are not elements; they are skipped.
_XML_SKIP = re.compile(r"<!--.*?(?:-->|\Z)|<\?.*?(?:\?>|\Z)|<![^>]*>", re.S)
_XML_TAG = re.compile(r"<(/?)([A-Za-z_][\w:.\-]*)((?:\s[^<>]*?)?)(/?)>")


def wiki_markup_closure(text: str) -> WikiMarkupClosure:
    """Closure of ``[[links]]``, ``{{templates}}`` and XML elements in wiki (enwik8-style) text.

    Links and templates are counted per kind with their own stacks, since wiki markup nests them
    freely inside each other (``[[Image:x|{{cite}}]]``) and a single mixed stack would blame a link
    for a template's error. XML elements share one stack so ``<page><title></page>`` is caught.
    """
    links, templates = _Matcher(), _Matcher()
    for tok in _WIKI_TOKEN.finditer(text):
        s = tok.group()
        if s in ("[[", "]]"):
            (links.open if s == "[[" else links.close)("[[")
        else:
            (templates.open if s == "{{" else templates.close)("{{")
    xml, self_closing = _Matcher(), 0
    for tag in _XML_TAG.finditer(_XML_SKIP.sub(" ", text)):
        closing, name, _attrs, selfclose = tag.groups()
        if selfclose and not closing:
            self_closing += 1
        elif closing:
            xml.close(name)
        else:
            xml.open(name)
    # One kind per stack, so links and templates can only be matched, unclosed or stray.
    return WikiMarkupClosure(links=links.finish(), templates=templates.finish(), xml=xml.finish(),
                             xml_self_closing=self_closing)


# --------------------------------------------------------------------------- LaTeX

_LATEX_COMMENT = re.compile(r"(?<!\\)%.*")
_LATEX_ENV = re.compile(r"\\(begin|end)\s*\{([^{}]*)\}")


def latex_environment_closure(text: str) -> Closure:
    """``\\begin{X}`` ... ``\\end{X}`` matching; ``%`` comments (not ``\\%``) are ignored.

    ``examples`` holds mismatched (opened, closed) environment names, e.g. ``("proof", "lemma")``.
    """
    matcher = _Matcher()
    for m in _LATEX_ENV.finditer(_LATEX_COMMENT.sub("", text)):
        which, name = m.group(1), m.group(2).strip()
        (matcher.open if which == "begin" else matcher.close)(name)
    return matcher.finish()


# --------------------------------------------------------------------------- C code

_C_OPENERS = {"(": "()", "[": "[]", "{": "{}"}
_C_CLOSERS = {")": "()", "]": "[]", "}": "{}"}


def _c_code_only(text: str) -> str:
    """The text with C comments and string/char literals blanked to spaces (newlines kept).

    Literals end at their closing quote or at the end of the line: generated code often has a
    broken quote, and letting it swallow the rest of the sample would hide every later bracket.
    """
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] not in (c, "\n"):
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n) if j < n and text[j] == c else min(j, n)
        else:
            out.append(c)
            i += 1
            continue
        out.append("".join("\n" if ch == "\n" else " " for ch in text[i:j]))
        i = j
    return "".join(out)


@dataclass
class BracketBalance:
    overall: Closure  # all three kinds on one stack, so "( ]" is a mismatch
    by_kind: dict[str, Closure]  # "()", "[]", "{}": each counted on its own stack

    @property
    def balanced(self) -> bool:
        return self.overall.balanced

    @property
    def rate(self) -> float | None:
        return self.overall.rate

    @property
    def max_depth(self) -> int:
        return self.overall.max_depth

    def as_dict(self) -> dict:
        return {"overall": self.overall.as_dict(), "by_kind": {k: v.as_dict() for k, v in self.by_kind.items()},
                "balanced": self.balanced, "rate": self.rate, "max_depth": self.max_depth}


def c_bracket_balance(text: str) -> BracketBalance:
    """Whether (), [] and {} balance and nest, ignoring those inside literals and comments."""
    overall = _Matcher()
    per_kind = {kind: _Matcher() for kind in ("()", "[]", "{}")}
    for ch in _c_code_only(text):
        if ch in _C_OPENERS:
            overall.open(_C_OPENERS[ch])
            per_kind[_C_OPENERS[ch]].open(_C_OPENERS[ch])
        elif ch in _C_CLOSERS:
            overall.close(_C_CLOSERS[ch])
            per_kind[_C_CLOSERS[ch]].close(_C_CLOSERS[ch])
    return BracketBalance(overall=overall.finish(), by_kind={k: m.finish() for k, m in per_kind.items()})


def share_balanced(samples: Sequence[str]) -> float | None:
    """Fraction of samples whose C brackets balance completely."""
    return _rate(sum(c_bracket_balance(s).balanced for s in samples), len(samples))


@dataclass
class Indentation:
    """Leading-whitespace style of non-blank lines, and whether it follows the braces.

    ``tabs``/``spaces``/``mixed`` count indented lines; ``unindented`` the rest. ``judged`` counts
    lines whose indentation the braces predict (see :func:`indentation_consistency`) and
    ``consistent`` those that indent the predicted way.
    """

    lines: int = 0
    unindented: int = 0
    tabs: int = 0
    spaces: int = 0
    mixed: int = 0
    judged: int = 0
    consistent: int = 0

    @property
    def indented(self) -> int:
        return self.tabs + self.spaces + self.mixed

    @property
    def tab_share(self) -> float | None:
        return _rate(self.tabs, self.indented)

    @property
    def space_share(self) -> float | None:
        return _rate(self.spaces, self.indented)

    @property
    def mixed_share(self) -> float | None:
        return _rate(self.mixed, self.indented)

    @property
    def rate(self) -> float | None:
        """Share of judged lines indented in the direction the braces predict."""
        return _rate(self.consistent, self.judged)

    def as_dict(self) -> dict:
        return {**asdict(self), "tab_share": self.tab_share, "space_share": self.space_share,
                "mixed_share": self.mixed_share, "rate": self.rate}


_TAB_WIDTH = 8  # the kernel's; only used to compare depths of space- or mixed-indented lines
_LABEL = re.compile(r"^[A-Za-z_]\w*:\s*$")


def indentation_consistency(text: str) -> Indentation:
    """Tabs vs spaces, and whether indentation moves with the braces (kernel style).

    Rules, applied to consecutive code lines (non-blank, after dropping comments and literals, and
    skipping preprocessor lines and ``label:`` lines, which sit at column 0 by convention):

    * after a line ending in ``{`` the next line is deeper -- or level, if it starts with ``}``;
    * a line starting with ``}`` (not right after ``{``) is shallower than the line before it;
    * after a line ending in ``}`` or ``};`` the next line is not deeper.

    Other lines are not judged: continuation lines and ``if`` bodies without braces are too
    ambiguous for a simple check.
    """
    result = Indentation()
    code_lines = _c_code_only(text).split("\n")
    raw_lines = text.split("\n")
    prev: tuple[int, str] | None = None  # (width, stripped code) of the previous code line
    for raw, code in zip(raw_lines, code_lines):
        if not raw.strip():
            continue
        result.lines += 1
        lead = raw[: len(raw) - len(raw.lstrip(" \t"))]
        if not lead:
            result.unindented += 1
        elif set(lead) == {"\t"}:
            result.tabs += 1
        elif set(lead) == {" "}:
            result.spaces += 1
        else:
            result.mixed += 1
        stripped = code.strip()
        if not stripped or stripped.startswith("#") or _LABEL.match(stripped):
            continue
        width = len(lead.expandtabs(_TAB_WIDTH))
        if prev is not None:
            expected = _expected_direction(prev[1], stripped)
            if expected is not None:
                result.judged += 1
                diff = width - prev[0]
                result.consistent += expected(diff)
        prev = (width, stripped)
    return result


def _expected_direction(prev_code: str, code: str) -> Callable[[int], bool] | None:
    """A predicate on (width - previous width), or None when the braces predict nothing."""
    if prev_code.endswith("{"):
        return (lambda d: d == 0) if code.startswith("}") else (lambda d: d > 0)
    if code.startswith("}"):
        return lambda d: d < 0
    if prev_code.endswith("}") or prev_code.endswith("};"):
        return lambda d: d <= 0
    return None


# --------------------------------------------------------------------------- names


@dataclass
class Novelty:
    total: int  # sampled lines (stripped, non-empty), repeats included
    novel: int  # of those, lines not in the training set
    distinct: int  # distinct sampled lines
    distinct_novel: int
    examples: list[str]  # first distinct novel lines, in sampling order

    @property
    def rate(self) -> float | None:
        return _rate(self.novel, self.total)

    def as_dict(self) -> dict:
        return {**asdict(self), "rate": self.rate}


def _lines(text: str) -> list[str]:
    return [s for s in (line.strip() for line in text.splitlines()) if s]


def novelty(samples: Sequence[str], training: set[str] | Iterable[str] | str) -> Novelty:
    """Share of sampled names (one per line) that are not in the training set.

    ``training`` may be a set of names, any iterable of lines, or the training text itself. Both
    sides are compared after stripping whitespace and case-sensitively, as the data set spells them.
    """
    if isinstance(training, str):
        known = set(_lines(training))
    else:
        known = {s for s in (t.strip() for t in training) if s}
    sampled = [line for sample in samples for line in _lines(sample)]
    seen: set[str] = set()
    novel_distinct: list[str] = []
    for line in sampled:
        if line not in seen:
            seen.add(line)
            if line not in known:
                novel_distinct.append(line)
    return Novelty(total=len(sampled), novel=sum(line not in known for line in sampled), distinct=len(seen),
                   distinct_novel=len(novel_distinct), examples=novel_distinct[:MAX_EXAMPLES])


# --------------------------------------------------------------------------- entropy


def unigram_entropy(text: str) -> float:
    """Entropy of the character distribution of ``text`` in nats/char.

    This is the loss of the best model that ignores context; a trained model's validation loss must be
    below the unigram entropy of its training text or it has learned nothing about sequence.
    """
    if not text:
        raise CharlmError("unigram_entropy got an empty text; pass the training text (or a sample) with characters")
    n = len(text)
    return -sum(c / n * math.log(c / n) for c in Counter(text).values())
