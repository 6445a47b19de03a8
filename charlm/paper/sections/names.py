"""07 baby names: names sampled one per line, and how many of them the data set does not hold.

The post trains on 8000 baby names, one per line, and shows sampled names "that do not occur in the training
data (90% don't)". Here the same share, against the training split and against the whole data set.
"""

from __future__ import annotations

from typing import Any, Sequence

from charlm.analysis import textstats
from charlm.analysis.display import Shown, esc, side_by_side, table
from charlm.errors import CharlmError
from charlm.paper.claims import POST, Claim, Said, against_published
from charlm.paper.notebook import Corpus, generate
from charlm.run import RunResult

# --------------------------------------------------------------------------- what the post says, and the rules

NOVEL_NAMES = Said("only showing the ones that do not occur in the training data (90% don't)",
                   POST + "#generating-baby-names")
POST_NOVEL_SHARE = 0.90
# Held when our share of new names is within NOVEL_CLOSE of the post's (absolute), partly within NOVEL_NEAR.
NOVEL_CLOSE, NOVEL_NEAR = 0.10, 0.25


def sample_names(run: RunResult, n: int, temperature: float = 1.0, seed: int = 0, streams: int = 8) -> list[str]:
    """``n`` names, one per generated line; the last, possibly cut-off line of each stream is dropped. A model that
    seldom ends a line may give fewer than ``n``; one that never does is an error."""
    names: list[str] = []
    length = max(64, int(n / streams * 9))
    # A model that never ends a line would loop forever: give up after 20 draws (one or two usually suffice).
    attempts = 20
    for attempt in range(attempts):
        if len(names) >= n:
            break
        for text in generate(run, streams, length, temperature, "", seed + attempt):
            names += [line.strip() for line in text.split("\n")[:-1] if line.strip()]
    if not names:
        raise CharlmError(f"the model wrote no complete line in {attempts * streams * length:,} characters, so no "
                          f"names; it never ends a line: train it longer")
    return names[:n]


def name_novelty(names: Sequence[str], corpus: Corpus) -> Shown:
    """Share of sampled names not in the training split (what the post counted), and not in the data set at all."""
    vs_train = textstats.novelty(["\n".join(names)], corpus.split("train"))
    vs_all = textstats.novelty(["\n".join(names)], corpus.text)
    rows = [{"compared with": "training split", "names sampled": vs_train.total, "not in it": vs_train.novel,
             "share new": vs_train.rate},
            {"compared with": "whole data set", "names sampled": vs_all.total, "not in it": vs_all.novel,
             "share new": vs_all.rate}]
    shown = table(rows, "invented names (the post: about 90% not in the training data)")
    examples = ", ".join(vs_all.examples)
    shown = Shown(shown.html + f"<p>new names, for example: {esc(examples)}</p>",
                  shown.plain + f"\nnew names, for example: {examples}")
    shown.data = {"novelty": vs_train.as_dict(), "novelty_vs_all": vs_all.as_dict(), "novel_rate": vs_train.rate}
    return shown


def show_names(names: Sequence[str], shown: int = 40) -> Shown:
    """The first names sampled in two columns of ``shown``."""
    return side_by_side({"first names sampled": "\n".join(names[:shown]), "more": "\n".join(names[shown:2 * shown])})


def novelty_claim(novelty: dict[str, Any]) -> tuple[str, Claim]:
    """Our share of sampled names not in the training split beside the post's: the sentence and the claim."""
    return against_published(NOVEL_NAMES, "sampled names not in the training split", novelty["novel_rate"],
                             POST_NOVEL_SHARE, NOVEL_CLOSE, NOVEL_NEAR, novelty["novelty"]["total"])
