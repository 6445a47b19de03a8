"""03 Shakespeare: the LSTM beside a Kneser-Ney n-gram on the same split, and the play's shape in its samples.

The post's Shakespeare samples keep the form of a play: a speaker's name on its own line, then the speech.
Here the share of complete sampled speeches that have that shape, and the distribution of their line lengths,
each beside held-out text cut to the samples' lengths.
"""

from __future__ import annotations

import re
import time
from typing import Any, Mapping, Sequence

import numpy as np

from charlm.analysis.display import Shown, show_figure, side_by_side, table
from charlm.paper.claims import POST, Claim, Measured, Said, by_ratio, enough, pct, rule
from charlm.paper.notebook import Corpus, reference_pieces

# --------------------------------------------------------------------------- what the post says, and the rules

PLAY_FORM = Said("all the RNN knows are characters, so in particular it samples both speaker's names and the "
                 "contents.", POST + "#shakespeare")
# The share of complete sampled speeches with the play's shape, as a multiple of real text's share.
SHAPE_HELD, SHAPE_PARTLY = 0.8, 0.5
# The largest gap between the sampled and the real line-length distributions (0: the same distribution).
LINES_HELD, LINES_PARTLY = 0.2, 0.4
# Fewer complete sampled speeches than this say little about the play's shape.
MIN_SPEECHES = 10
PLAY_FORM_RULE = rule(f"the play-shaped share is at least {SHAPE_HELD:g} x real text's and the line-length gap at most "
                      f"{LINES_HELD:g}", f"at least {SHAPE_PARTLY:g} x and at most {LINES_PARTLY:g}", MIN_SPEECHES,
                      "complete sampled speeches")

# --------------------------------------------------------------------------- the n-gram beside the LSTM


def ngram_baseline(corpus: Corpus, order: int, length: int = 500, prime: str = "", seed: int = 0) -> dict[str, Any]:
    """Kneser-Ney n-gram on the training split, scored on the validation split, and a sample from it."""
    from charlm.analysis.ngram import NGramModel

    train_text, val_text = corpus.split("train"), corpus.split("val")
    start = time.perf_counter()
    model = NGramModel.fit(train_text, order)
    fit_seconds = time.perf_counter() - start
    return {"order": order, "val_loss": model.loss(val_text, context=train_text), "fit_seconds": fit_seconds,
            "sample": prime + model.sample(length, 1.0, prime or "\n", seed)}  # "\n": start a line, as the LSTM does


def beside_ngram(sample: str, ngram: Mapping[str, Any]) -> Shown:
    """The LSTM's sample cut to the n-gram's sample's length, the two side by side."""
    return side_by_side({"LSTM": sample[:len(ngram["sample"])], f"{ngram['order']}-gram": ngram["sample"]},
                        "the LSTM and the n-gram model side by side")


# --------------------------------------------------------------------------- the play's shape

# A speaker line: capitalised words ("First Citizen", "KING RICHARD III"), then a colon, alone on its line.
_SPEAKER = re.compile(r"^[A-Z][A-Za-z'\-]*(?: [A-Z][A-Za-z'\-]*)*:$")


def speeches(text: str) -> list[list[str]]:
    """The complete blocks between blank lines: the first and last are dropped, a cut may have split them."""
    blocks = [b.split("\n") for b in re.split(r"\n[ \t]*\n", text.strip("\n"))]
    return blocks[1:-1]


def play_shaped(block: Sequence[str]) -> bool:
    """A speaker line, then at least one line of speech that is not itself a speaker line."""
    return (len(block) >= 2 and bool(_SPEAKER.match(block[0].strip()))
            and all(line.strip() and not _SPEAKER.match(line.strip()) for line in block[1:]))


def line_lengths(text: str) -> list[int]:
    """Lengths of the lines of speech (speaker lines and blank lines left out)."""
    return [len(line) for line in text.split("\n") if line.strip() and not _SPEAKER.match(line.strip())]


def ks_distance(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Largest gap between the two empirical distribution functions (0: the same distribution)."""
    if not a or not b:
        return None
    xs = np.sort(np.concatenate([a, b]))
    cdf_a = np.searchsorted(np.sort(a), xs, side="right") / len(a)
    cdf_b = np.searchsorted(np.sort(b), xs, side="right") / len(b)
    return float(np.max(np.abs(cdf_a - cdf_b)))


def play_form(samples: Sequence[str], real_pieces: Sequence[str]) -> dict[str, Any]:
    def measure(texts: Sequence[str]) -> dict[str, Any]:
        blocks = [b for t in texts for b in speeches(t)]
        lengths = [n for t in texts for n in line_lengths(t)]
        return {"speeches": len(blocks), "play_shaped": sum(map(play_shaped, blocks)),
                "share": sum(map(play_shaped, blocks)) / len(blocks) if blocks else None,
                "line_lengths": lengths, "mean_line_length": float(np.mean(lengths)) if lengths else None}

    ours, real = measure(samples), measure(real_pieces)
    return {"samples": ours, "real": real, "line_length_ks": ks_distance(ours["line_lengths"], real["line_lengths"])}


def play_form_claim(form: Mapping[str, Any]) -> Claim:
    ours, real, ks = form["samples"], form["real"], form["line_length_ks"]
    shape = by_ratio(ours["share"], real["share"], SHAPE_HELD, SHAPE_PARTLY)
    gap = float("inf") if ks is None else ks
    lines = "held" if gap <= LINES_HELD else "partly" if gap <= LINES_PARTLY else "not"
    verdict = "held" if shape == lines == "held" else "not" if "not" in (shape, lines) else "partly"
    ks_text = "n/a" if ks is None else f"{ks:.2f}"
    sentence = (f"{pct(ours['share'])} of {ours['speeches']} complete sampled speeches have the play's shape (a "
                f"capitalised speaker line ending in ':', then speech, then a blank line); real held-out text: "
                f"{pct(real['share'])} of {real['speeches']}. Lines of speech average "
                f"{ours['mean_line_length'] or 0:.0f} characters (real {real['mean_line_length'] or 0:.0f}); the "
                f"largest gap between the two line-length distributions is {ks_text} (0 would be identical)")
    return Claim.of(PLAY_FORM, sentence, enough(verdict, ours["speeches"], MIN_SPEECHES), PLAY_FORM_RULE, ours["share"],
                    ours["speeches"])


def play_form_table(form: Mapping[str, Any]) -> Shown:
    rows = [{"text": k, "complete speeches": form[k]["speeches"], "play-shaped": form[k]["share"],
             "mean line length": form[k]["mean_line_length"]} for k in ("samples", "real")]
    return table(rows, "the play's shape: samples beside held-out text of the same lengths")


def without_lengths(form: Mapping[str, Any]) -> dict[str, Any]:
    """The record's copy: every line length is in the figure, the summary numbers are enough here."""
    return {**form, **{k: {**form[k], "line_lengths": None} for k in ("samples", "real")}}


def line_length_figure(form: Mapping[str, Any]) -> Any:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.4))
    top = max([*form["samples"]["line_lengths"], *form["real"]["line_lengths"], 1])
    bins = np.arange(0, top + 5, 5)
    for key, color, label in (("real", "gray", "real held-out text"), ("samples", "#3182bd", "samples")):
        if form[key]["line_lengths"]:
            ax.hist(form[key]["line_lengths"], bins=bins, density=True, alpha=0.5, color=color, label=label)
    ax.set_xlabel("characters per line of speech")
    ax.set_ylabel("share of lines (density)")
    ax.set_title("line lengths: samples beside real text", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def measure_play_form(samples: Sequence[str], corpus: Corpus, path: Any = None) -> Shown:
    form = play_form(samples, reference_pieces(corpus.split("test"), samples))
    show_figure(line_length_figure(form), path)
    return Measured([play_form_table(form)], without_lengths(form), [play_form_claim(form)])
