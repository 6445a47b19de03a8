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
