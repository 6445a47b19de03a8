"""The counting baseline: Kneser-Ney n-grams of several orders beside the LSTM, and the published numbers.

    comparison = ngram_comparison(train_text, val_text, lstm_loss, orders)
    comparison = ngram_comparison(train_text, val_pieces, lstm_val, orders, test=test_pieces, lstm_test_loss=...)

A held-out split is a text scored after the training text (a contiguous split), or (context, text) pieces,
each scored after its own context (the stripes of char-rnn's split, each after the text before it in its row).
"""

from __future__ import annotations

import html
import time
from dataclasses import dataclass
from typing import Any, Sequence, Union

from charlm.analysis.display import Shown, Table, stack
from charlm.errors import CharlmError
from charlm.analysis.textstats import bits
from charlm.analysis.viz.views import Html


# A held-out split: one text (scored after the training text) or (context, text) pieces.
HeldOut = Union[str, Sequence[tuple[str, str]]]


@dataclass(repr=False)
class NgramComparison(Shown):
    """Validation (and test) loss of n-gram orders beside the LSTM (same splits), their samples, and published
    numbers. Each row: model, order, val_loss, test_loss (None without a test split), bits_per_char (of
    val_loss), fit_seconds."""

    rows: list[dict[str, Any]]
    lstm_loss: float
    unigram_loss: float | None
    samples: dict[str, str]
    published: list[dict[str, Any]]
    dataset: str | None
    published_title: str = "published figures"
    lstm_test_loss: float | None = None

    @property
    def best_ngram(self) -> dict[str, Any]:
        return min((r for r in self.rows if r["model"] != "LSTM"), key=lambda r: r["val_loss"])

    @property
    def has_test(self) -> bool:
        return any(r.get("test_loss") is not None for r in self.rows)

    def table(self) -> Table:
        rows = []
        for r in self.rows:
            row = {"model": r["model"] if r["model"] == "LSTM" else f"{r['order']}-gram",
                   "val loss (nats/char)": r["val_loss"], "bits/char": r["bits_per_char"],
                   "vs LSTM": None if r["model"] == "LSTM" else r["val_loss"] - self.lstm_loss}
            if self.has_test:
                row["test loss (nats/char)"] = r.get("test_loss")
                row["test vs LSTM"] = (None if r["model"] == "LSTM" or r.get("test_loss") is None
                                       or self.lstm_test_loss is None else r["test_loss"] - self.lstm_test_loss)
            rows.append({**row, "fit (s)": r.get("fit_seconds")})
        splits = "validation and test splits" if self.has_test else "validation split"
        return Table(rows, f"LSTM vs Kneser-Ney n-grams on the same {splits}",
                     f"n-grams are fitted on the LSTM's training split and scored on its {splits}, each character "
                     "predicted from the characters before it (the text that precedes each scored stretch included).",
                     align="left")

    def published_table(self) -> Table:
        return Table(self.published, self.published_title, align="left")

    def samples_html(self) -> Html:
        cells = "".join(
            f"<td style=\"vertical-align:top;text-align:left;padding:4px 8px\">"
            f"<div style=\"font-weight:bold;text-align:left\">{html.escape(k)}</div>"
            f"<pre style=\"white-space:pre-wrap;text-align:left;margin:0;font-size:12px\">{html.escape(v)}</pre></td>"
            for k, v in self.samples.items())
        return Html(f"<table style=\"table-layout:fixed;width:100%\"><tr>{cells}</tr></table>")

    def tables(self) -> Shown:
        """The comparison table, then the published one where the data set has published numbers."""
        return stack([self.table(), *([self.published_table()] if self.published else [])])

    @property
    def html(self) -> str:
        return self.tables().html

    @property
    def plain(self) -> str:
        return self.tables().plain

    @property
    def data(self) -> dict[str, Any]:
        return self.as_dict()

    def loss_of_order(self, order: int, split: str = "val") -> float | None:
        """The ``split`` ("val" or "test") loss of the n-gram of ``order``, None when it was not fitted or scored."""
        return next((r[f"{split}_loss"] for r in self.rows if r["model"] != "LSTM" and r.get("order") == order), None)

    def as_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "lstm_loss": self.lstm_loss, "lstm_test_loss": self.lstm_test_loss,
                "unigram_loss": self.unigram_loss,
                "published": self.published, "dataset": self.dataset,
                "samples": {k: v[:500] for k, v in self.samples.items()}}


def _pieces(held_out: HeldOut, train_text: str) -> list[tuple[str, str]]:
    """A held-out split as (context, text) pieces: a lone text follows the training text."""
    return [(train_text, held_out)] if isinstance(held_out, str) else list(held_out)


def ngram_comparison(train_text: str, val_text: HeldOut, lstm_loss: float,
                     orders: Sequence[int] = (1, 2, 3, 5, 10, 20), *, test: HeldOut | None = None,
                     lstm_test_loss: float | None = None, dataset: str | None = None,
                     published: Sequence[dict[str, Any]] = (), published_title: str = "published figures",
                     lstm_sample: str | None = None, sample_orders: Sequence[int] = (), sample_length: int = 300,
                     prime: str = "\n", seed: int = 0) -> NgramComparison:
    """Fit a Kneser-Ney n-gram per order on ``train_text``, score the validation split (and ``test``), sample
    some orders. A split is a text scored after ``train_text``, or (context, text) pieces each scored after its
    own context (NGramModel.loss_pieces).

    ``published``: rows of published figures to show beside ours, under ``published_title``.
    """
    from charlm.analysis.ngram import NGramModel

    val_pieces = _pieces(val_text, train_text)
    test_pieces = _pieces(test, train_text) if test is not None else None
    if not train_text or not any(text for _, text in val_pieces):
        raise CharlmError("the n-gram comparison needs a non-empty training and validation text")
    vocab = sorted(set(train_text))
    rows: list[dict[str, Any]] = [{"model": "LSTM", "order": None, "val_loss": float(lstm_loss),
                                   "test_loss": None if lstm_test_loss is None else float(lstm_test_loss),
                                   "bits_per_char": bits(float(lstm_loss)), "fit_seconds": None}]
    samples: dict[str, str] = {}
    if lstm_sample is not None:
        samples["LSTM"] = lstm_sample
    for order in orders:
        t0 = time.perf_counter()
        model = NGramModel.fit(train_text, order, vocab)
        fit_seconds = time.perf_counter() - t0
        loss = model.loss_pieces(val_pieces)
        test_loss = model.loss_pieces(test_pieces) if test_pieces is not None else None
        rows.append({"model": "n-gram", "order": order, "val_loss": loss, "test_loss": test_loss,
                     "bits_per_char": bits(loss), "fit_seconds": fit_seconds})
        if order in sample_orders:
            samples[f"{order}-gram"] = model.sample(sample_length, 1.0, prime, seed)
        del model
    unigram = next((r["val_loss"] for r in rows if r["order"] == 1), None)
    return NgramComparison(rows, float(lstm_loss), unigram, samples, list(published), dataset, published_title,
                           None if lstm_test_loss is None else float(lstm_test_loss))
