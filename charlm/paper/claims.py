"""The post and the paper as sources, and a claim of theirs judged against our numbers.

A section module (:mod:`charlm.paper.sections`) keeps what its part of the post says as :class:`Said`
constants, the post's words verbatim (``quoted``) or, where no sentence of the post says it, ours; beside each,
the thresholds its verdict uses. A measurement then makes a :class:`Claim`: what was said, what we measured (a
sentence and the number the verdict is read from), the rule, the verdict and how much material it rests on.
Claims are a typed field of the results record (:class:`charlm.paper.results.Record`).

Every rule has one shape (:func:`rule`): "held when ...; partly when ...; else not", and where the number can rest
on too little material, "too few to judge below N ...": below that minimum the verdict is :data:`TOO_FEW`, whatever
the number says (:func:`enough`). A quote is plain text, the post's words with its Markdown markup (links, emphasis,
inline code) taken out, so that it reads the same in a table, a page or a terminal.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping, Sequence

from charlm.analysis.display import Shown, esc, stack
from charlm.errors import CharlmError

POST = "https://karpathy.github.io/2015/05/21/rnn-effectiveness/"
PAPER = "https://arxiv.org/abs/1506.02078"  # Karpathy, Johnson & Fei-Fei (2015)
TOO_FEW = "too few to judge"  # the number rests on less material than the rule's minimum
VERDICTS = ("held", "partly", "not", TOO_FEW)


@dataclass(frozen=True)
class Said:
    """What the post (or the paper) says, and where."""

    text: str  # its words, verbatim, when quoted; else what it says, in our words
    link: str  # the post's section, or the paper
    quoted: bool = True


@dataclass(frozen=True)
class Claim:
    """One claim of the post judged at this profile's size."""

    said: str  # what the post (or the paper) says: its words when ``quoted``, else ours
    quoted: bool  # True: ``said`` is the source's words verbatim; False: in our words
    link: str  # where it says it
    ours: str  # what we measured, as a sentence with the numbers
    value: float | None  # the number the verdict is read from (None: nothing was measured)
    rule: str  # how the verdict follows from the numbers
    verdict: str  # held | partly | not | too few to judge
    n: int | None  # how much material the number rests on (samples, blocks, names, cells ...), where it counts

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise CharlmError(f"verdict {self.verdict!r} is not one of {', '.join(VERDICTS)}")

    @classmethod
    def of(cls, said: Said, ours: str, verdict: str, rule: str, value: float | None = None,
           n: int | None = None) -> Claim:
        return cls(said.text, said.quoted, said.link, ours, None if value is None else float(value), rule, verdict,
                   None if n is None else int(n))

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str = "a claim") -> Claim:
        names = {f.name for f in fields(cls)}
        if not isinstance(data, Mapping) or set(data) != names:
            got = sorted(data) if isinstance(data, Mapping) else type(data).__name__
            raise CharlmError(f"results: {where} has fields {got}, a claim has {sorted(names)}; rerun its notebook")
        return cls(**data)

    @classmethod
    def from_legacy(cls, data: Mapping[str, Any]) -> Claim:
        """A claim as records wrote it before claims were typed: {"claim", "link", "ours", "verdict", numbers...}.
        Its words were marked as ours by a leading parenthesis ("(the paper, in our words) ..."); it kept no rule."""
        said = str(data.get("claim", ""))
        return cls(said, not said.startswith("("), str(data.get("link", "")), str(data.get("ours", "")), None, "",
                   str(data.get("verdict", "not")), data.get("n") if isinstance(data.get("n"), int) else None)

    def shown(self) -> Shown:
        """The lines under a measurement's output: what was said (the source's words, or ours marked so), whether
        it held, what we found, and by what rule."""
        source = "the post" if self.link.startswith(POST) else "the paper"
        said_html = (f"{source}: <a href='{esc(self.link)}'>“{esc(self.said)}”</a>" if self.quoted else
                     f"{source}, in our words: <a href='{esc(self.link)}'>{esc(self.said)}</a>")
        said_plain = f"{source}: “{self.said}”" if self.quoted else f"{source}, in our words: {self.said}"
        rule = self.rule + (f"; n = {self.n:,}" if self.n is not None else "")
        return Shown(f"<p><small>{said_html}</small><br/><b>{esc(self.verdict.upper())}</b> at this size: "
                     f"{esc(self.ours)}<br/><small>rule: {esc(rule)}</small></p>",
                     f"{said_plain}\n{self.verdict.upper()} at this size: {self.ours}\n  rule: {rule}", self.to_json())


class Measured(Shown):
    """A measurement shown (its tables, then one verdict per claim), its numbers (``data``) and its ``claims``."""

    def __init__(self, parts: Sequence[Shown], data: Any, claims: Sequence[Claim]) -> None:
        shown = stack([*parts, *(c.shown() for c in claims)])
        super().__init__(shown.html, shown.plain, data)
        self.claims = list(claims)


def judged(claims: Sequence[Claim], sentence: str = "", data: Any = None) -> Measured:
    """Claims as a cell's output: ``sentence`` (what was measured, if given), then each claim with its verdict,
    its rule and its n."""
    parts = [Shown(f"<p>{esc(sentence)}</p>", sentence)] if sentence else []
    return Measured(parts, data, claims)


def rule(held: str, partly: str | None = None, minimum: int | None = None, of: str = "") -> str:
    """A verdict's rule in words, one shape for every claim: "held when <held>; partly when <partly>; else not",
    then "; too few to judge below <minimum> <of>" where a minimum applies."""
    parts = [f"held when {held}", *([f"partly when {partly}"] if partly else []), "else not"]
    if minimum is not None:
        parts.append(f"too few to judge below {minimum:,} {of}".rstrip())
    return "; ".join(parts)


def enough(verdict: str, n: int | None, minimum: int) -> str:
    """``verdict`` when the number rests on at least ``minimum`` (samples, marks, lines ...), else TOO_FEW; ``n``
    None means nothing was there to count."""
    return verdict if n is not None and n >= minimum else TOO_FEW


def by_ratio(ours: float | None, real: float | None, held: float, partly: float) -> str:
    """Verdict for 'the samples do what real text does': ours at least ``held`` (or ``partly``) times real's."""
    if ours is None or not real:
        return "not"
    ratio = ours / real
    return "held" if ratio >= held else "partly" if ratio >= partly else "not"


def ratio_rule(what: str, held: float, partly: float, minimum: int | None = None, of: str = "") -> str:
    """The rule :func:`by_ratio` applies, in words (with :func:`enough`'s minimum when given)."""
    return rule(f"{what} is at least {held:g} x real text's", f"at least {partly:g} x", minimum, of)


def pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.0f}%"


def against_published(said: Said, measured: str, ours: float | None, theirs: float, close: float, near: float,
                      n: int | None = None, minimum: int | None = None, of: str = "") -> tuple[str, Claim]:
    """A share we measured beside the share the post reports: held within ``close`` (absolute), partly within
    ``near``, otherwise not; too few to judge when ``n`` is below ``minimum``. Returns the sentence and the claim."""
    how = rule(f"within {100 * close:.0f} points of the post's {pct(theirs)}", f"within {100 * near:.0f}", minimum, of)
    if ours is None:
        verdict = "not" if minimum is None else enough("not", n, minimum)
        return f"{measured}: nothing to measure.", Claim.of(said, "nothing measured", verdict, how, None, n)
    gap = abs(ours - theirs)
    verdict = "held" if gap <= close else ("partly" if gap <= near else "not")
    if minimum is not None:
        verdict = enough(verdict, n, minimum)
    said_verdict = {"held": "held", "partly": "partly held", "not": "did not hold", TOO_FEW: "too few to judge"}
    sentence = (f"{measured}: {pct(ours)} here, {pct(theirs)} in the post, {100 * gap:.0f} points apart: "
                f"{said_verdict[verdict]} at this size.")
    return sentence, Claim.of(said, sentence, verdict, how, ours, n)
