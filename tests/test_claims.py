"""The claims rows every notebook records."""

from __future__ import annotations

import pytest

from charlm.analysis import claims
from charlm.errors import CharlmError


def test_claim_rejects_unknown_verdicts():
    row = claims.claim("x", "y", "partly", n=3)
    assert row == {"claim": "x", "ours": "y", "verdict": "partly", "source": claims.POST_URL, "n": 3}
    with pytest.raises(CharlmError, match="not one of held, partly, not"):
        claims.claim("x", "y", "maybe")


@pytest.mark.parametrize("ours, verdict", [(0.86, "held"), (0.70, "partly"), (0.40, "not")])
def test_against_published(ours, verdict):
    sentence, row = claims.against_published("90% new", "new names", ours, 0.90)
    assert row["verdict"] == verdict and f"{100 * ours:.0f}% here, 90% in the post" in sentence
    assert claims.against_published("c", "m", None, 0.9)[1]["verdict"] == "not"


def test_say_shows_the_sentence():
    shown = claims.say("spaces first")
    assert "spaces first" in shown.html and repr(shown) == "spaces first"


def test_sample_sentence():
    assert "exactly the training sequence 'hello'" in claims.sample_sentence("hello", "hello")
    assert "'hellll', not the training" in claims.sample_sentence("hellll", "hello")
