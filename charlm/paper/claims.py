"""The post and the paper as sources, and how a claim of theirs is judged against our numbers.

A claim is data, so that the results summary can list every section's claims the same way::

    {"claim": "<the post's words>", "link": "<the post's section>", "ours": "<a sentence with our numbers>",
     "verdict": "held" | "partly" | "not"}

Each section module (:mod:`charlm.paper.sections`) quotes its part of the post and builds its claims with
these helpers; the measures themselves are made on the model's samples and on real text under the same rule.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Mapping, Sequence

from charlm.analysis.display import Shown, esc, stack
from charlm.errors import CharlmError

POST = "https://karpathy.github.io/2015/05/21/rnn-effectiveness/"
PAPER = "https://arxiv.org/abs/1506.02078"  # Karpathy, Johnson & Fei-Fei (2015)
VERDICTS = ("held", "partly", "not")


@dataclass
class Claim:
    claim: str  # the post's words, quoted exactly
    link: str  # the post's section
    ours: str  # what we measured, as a sentence with the numbers
    verdict: str  # held | partly | not (at this profile's size)

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise CharlmError(f"verdict {self.verdict!r} is not one of {', '.join(VERDICTS)}")

    def as_dict(self) -> dict[str, str]:
        return asdict(self)

    def shown(self) -> Shown:
        """The sentence under a measurement's output: what we found, and whether the claim held."""
        return Shown(f"<p><b>{esc(self.verdict.upper())}</b> at this size: {esc(self.ours)}</p>",
                     f"{self.verdict.upper()} at this size: {self.ours}", self.as_dict())


def by_ratio(ours: float | None, real: float | None, held: float = 0.8, partly: float = 0.5) -> str:
    """Verdict for 'the samples do what real text does': ours at least ``held`` (or ``partly``) times real's."""
    if ours is None or not real:
        return "not"
    ratio = ours / real
    return "held" if ratio >= held else "partly" if ratio >= partly else "not"


def pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.0f}%"


def with_claims(parts: Sequence[Shown], data: dict[str, Any], found: Sequence[Claim]) -> Shown:
    """A measurement's output followed by its verdict sentences; the claims go into the data for the record."""
    return stack([*parts, *(c.shown() for c in found)], {**data, "claims": [c.as_dict() for c in found]})


def claims_of(extra: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every claim dict recorded in a section's ``extra`` (``extra["claims"]`` or any measure's ``"claim"``)."""
    found = [dict(c) for c in extra.get("claims") or []]
    for value in extra.values():
        if isinstance(value, Mapping):
            nested = [value["claim"]] if isinstance(value.get("claim"), Mapping) else list(value.get("claims") or [])
            found += [dict(c) for c in nested if isinstance(c, Mapping) and dict(c) not in found]
    return found


def claim(text: str, ours: str, verdict: str, link: str = POST, **numbers: Any) -> dict[str, Any]:
    """A claims row as a dict, with the measured values behind ``ours`` beside it (for records built by hand)."""
    return {**Claim(text, link, ours, verdict).as_dict(), **numbers}


def against_published(text: str, measured: str, ours: float | None, theirs: float, close: float = 0.10,
                      near: float = 0.25, link: str = POST) -> tuple[str, dict[str, Any]]:
    """A share we measured beside the share the post reports: held within ``close`` (absolute), partly within
    ``near``, otherwise not. Returns the sentence and the claims row."""
    if ours is None:
        return f"{measured}: nothing to measure.", claim(text, "nothing measured", "not", link)
    gap = abs(ours - theirs)
    verdict = "held" if gap <= close else ("partly" if gap <= near else "not")
    sentence = (f"{measured}: {pct(ours)} here, {pct(theirs)} in the post, {100 * gap:.0f} points apart: "
                f"{'held' if verdict == 'held' else 'partly held' if verdict == 'partly' else 'did not hold'} at this size.")
    return sentence, claim(text, sentence, verdict, link, ours_value=ours, theirs_value=theirs)

