"""The post's claims beside our measurements: one record shape for every notebook.

Each notebook's results record carries ``extra["claims"]``, a list of :func:`claim` dicts that
:mod:`charlm.paper.results` lists in results.md: the post's (or the paper's) claim, what we measured, and
whether it held at the profile's size.
"""

from __future__ import annotations

from typing import Any

from charlm.errors import CharlmError

POST_URL = "https://karpathy.github.io/2015/05/21/rnn-effectiveness/"
PAPER_URL = "https://arxiv.org/abs/1506.02078"  # Karpathy, Johnson & Fei-Fei (2015)
VERDICTS = ("held", "partly", "not")


def claim(text: str, ours: str, verdict: str, source: str = POST_URL, **numbers: Any) -> dict[str, Any]:
    """One row of results.md's claims table; ``numbers`` are the measured values behind ``ours``."""
    if verdict not in VERDICTS:
        raise CharlmError(f"verdict {verdict!r} is not one of {', '.join(VERDICTS)}")
    return {"claim": text, "ours": ours, "verdict": verdict, "source": source, **numbers}


def percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.0f}%"


def say(sentence: str) -> Any:
    """A computed sentence as a cell's output: a paragraph in Jupyter, the text in a log."""
    from charlm.analysis.display import Shown, esc

    return Shown(f"<p><b>What to look for:</b> {esc(sentence)}</p>", sentence, sentence)


def against_published(text: str, measured: str, ours: float | None, theirs: float, close: float = 0.10,
                      near: float = 0.25, source: str = POST_URL) -> tuple[str, dict[str, Any]]:
    """A share we measured beside the share the post reports: held within ``close`` (absolute), partly within
    ``near``, otherwise not. Returns the sentence and the claims row."""
    if ours is None:
        return f"{measured}: nothing to measure.", claim(text, "nothing measured", "not", source)
    gap = abs(ours - theirs)
    verdict = "held" if gap <= close else ("partly" if gap <= near else "not")
    sentence = (f"{measured}: {percent(ours)} here, {percent(theirs)} in the post, {100 * gap:.0f} points apart: "
                f"{'held' if verdict == 'held' else 'partly held' if verdict == 'partly' else 'did not hold'} at this size.")
    return sentence, claim(text, sentence, verdict, source, ours_value=ours, theirs_value=theirs)


def sample_sentence(sample: str, expected: str) -> str:
    """Whether a (greedy) sample spells what the training text says."""
    same = sample == expected
    return (f"Sampled greedily from {expected[0]!r}: {sample!r}, {'exactly' if same else 'not'} the training "
            f"sequence {expected!r}.")
