"""What a model did on a text: every layer's state after every character, and its guesses for the next one.

    tr = trace(model, vocab, text)    # every layer's h (and LSTM c) after every character, top-k guesses
    tr.values(layer, "cell")          # (T, H) in [-1, 1]: tanh(c), what the views colour by, or h
    excerpt(text, length)             # a stretch of text that starts a paragraph (a fair start for both)
    trace_pieces(model, vocab, excerpts(pieces, length))  # separate stretches, each after its own context

A trace of several pieces (the stripes of char-rnn's split, each with the text before it in its row) runs
each piece from its own state, set by reading its context first, and keeps where each piece starts
(``Trace.starts``): labels are computed per piece and a view or window never crosses from one to the next.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from charlm.errors import CharlmError
from charlm.model import CharRNN
from charlm.vocab import Vocab


@dataclass
class Trace:
    """What a model did on a text: states after every character and its guesses for the next one.

    hidden[l] is (T, H): layer l's h after reading text[t]. cell[l] is (T, H) raw LSTM c (None for RNN/GRU).
    topk_ids / topk_probs (T, k): the k likeliest next characters after text[:t+1]. target_prob[t] is the
    probability the model gave text[t] before reading it (NaN at a piece's start traced without context, which had
    no prediction). ``text`` may join several pieces, starting at ``starts``: nothing carries across their
    boundaries (each piece's state starts from its own context), and the guesses at a piece's last character are
    for a character the trace does not hold.
    """

    text: str
    vocab: Vocab
    hidden: list[np.ndarray]
    cell: list[np.ndarray] | None
    topk_ids: np.ndarray
    topk_probs: np.ndarray
    target_prob: np.ndarray
    model_type: str = "lstm"
    starts: tuple[int, ...] = (0,)  # where each traced piece begins in text

    def __len__(self) -> int:
        return len(self.text)

    def pieces(self) -> list[tuple[int, int]]:
        """[start, end) of each traced piece in ``text``."""
        return list(zip(self.starts, (*self.starts[1:], len(self.text))))

    def piece_texts(self) -> list[str]:
        return [self.text[a:b] for a, b in self.pieces()]

    def followed(self) -> np.ndarray:
        """(T,) bool: whether the character after position t is in the trace (false at each piece's end), so that
        the guesses made at t can be held against it."""
        mask = np.ones(len(self.text), dtype=bool)
        mask[[b - 1 for _, b in self.pieces()]] = False
        return mask

    @property
    def num_layers(self) -> int:
        return len(self.hidden)

    @property
    def size(self) -> int:
        return self.hidden[0].shape[1]

    @property
    def kinds(self) -> tuple[str, ...]:
        return ("cell", "hidden") if self.cell is not None else ("hidden",)

    def values(self, layer: int, kind: str = "cell") -> np.ndarray:
        """(T, H) activations in [-1, 1]: h, or tanh(c) for LSTM cells (what the views colour by)."""
        if kind not in ("cell", "hidden"):
            raise CharlmError(f"kind {kind!r} must be 'cell' or 'hidden'")
        if kind == "cell" and self.cell is None:
            raise CharlmError(f"a {self.model_type.upper()} has no cell state; use kind='hidden'")
        if not -self.num_layers <= layer < self.num_layers:
            raise CharlmError(f"layer {layer} out of range: the model has {self.num_layers} layer(s), 0..{self.num_layers - 1}")
        return np.tanh(self.cell[layer]) if kind == "cell" else self.hidden[layer]  # type: ignore[index]

    def span(self, start: int = 0, stop: int | None = None) -> tuple[int, int]:
        """[start, stop) clipped to the trace; CharlmError if that leaves no character."""
        n = len(self.text)
        stop = n if stop is None else min(stop, n)
        if not 0 <= start < stop:
            raise CharlmError(f"character range [{start}, {stop}) is empty or outside the trace of {n} characters")
        return start, stop

    def unit(self, layer: int, unit: int, kind: str = "cell") -> np.ndarray:
        values = self.values(layer, kind)
        if not 0 <= unit < values.shape[1]:
            raise CharlmError(f"unit {unit} out of range: layer {layer} has {values.shape[1]} units, 0..{values.shape[1] - 1}")
        return values[:, unit]

    def __repr__(self) -> str:
        kinds = " and ".join(self.kinds)
        return (f"Trace of {len(self.text):,} characters through a {self.model_type.upper()}: {self.num_layers} layer(s) "
                f"x {self.size} units ({kinds}), top-{self.topk_ids.shape[1]} guesses; loss {self.loss:.3f} nats/char")

    @property
    def loss(self) -> float:
        """Mean -log p over the characters that had a prediction (nats/char)."""
        p = self.target_prob[~np.isnan(self.target_prob)]
        return float(-np.log(np.maximum(p, 1e-12)).mean()) if len(p) else math.nan


@torch.inference_mode()
def trace(model: CharRNN, vocab: Vocab, text: str, top_k: int = 5, chunk: int = 1024, context: str = "") -> Trace:
    """Run ``text`` through ``model`` (eval mode, state carried across chunks of ``chunk`` characters), after
    reading ``context`` (the text before it: it sets the state and the first character's prediction, and is
    not recorded)."""
    if not text:
        raise CharlmError("cannot trace empty text; give at least one character")
    if top_k < 1:
        raise CharlmError(f"top_k {top_k} must be at least 1")
    ids = torch.from_numpy(vocab.encode(text, what="the text to trace"))
    if model.config.vocab_size != len(vocab):
        raise CharlmError(f"the model has {model.config.vocab_size} outputs but the vocabulary {len(vocab)} characters; "
                          "use the vocabulary saved with the model")
    k = min(top_k, len(vocab))
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    hidden: list[list[np.ndarray]] = [[] for _ in range(model.config.num_layers)]
    cell: list[list[np.ndarray]] | None = [[] for _ in hidden] if model.config.model == "lstm" else None
    top_ids, top_probs, target = [], [], []
    state = None
    prev_probs: torch.Tensor | None = None  # the distribution after the previous chunk's last character
    try:
        if context:
            logits, _, state = model(torch.from_numpy(vocab.encode(context, what="the context")).to(device)[None])
            prev_probs = torch.softmax(logits[0, -1].float(), dim=-1)
        for begin in range(0, len(ids), chunk):
            idx = ids[begin:begin + chunk].to(device)[None]  # (1, T)
            act = model.activations(idx, state)
            state = act.state
            for layer, h in enumerate(act.hidden):
                hidden[layer].append(h[0].float().cpu().numpy())
            if cell is not None:
                for layer, c in enumerate(act.cell):  # type: ignore[arg-type]
                    cell[layer].append(c[0].float().cpu().numpy())
            probs = torch.softmax(act.logits[0].float(), dim=-1)  # (T, V): after each character
            values, indices = torch.topk(probs, k, dim=-1)
            top_ids.append(indices.cpu().numpy())
            top_probs.append(values.cpu().numpy())
            # p(text[t] | text[:t]) is read from the distribution after the previous character
            if prev_probs is None:
                target.append(np.array([np.nan]))
                before, chars = probs[:-1], idx[0, 1:]
            else:
                before, chars = torch.cat([prev_probs[None], probs[:-1]]), idx[0]
            target.append(before.gather(1, chars[:, None])[:, 0].cpu().numpy())
            prev_probs = probs[-1]
    finally:
        model.train(was_training)
    return Trace(text=text, vocab=vocab, hidden=[np.concatenate(h) for h in hidden],
                 cell=[np.concatenate(c) for c in cell] if cell is not None else None,
                 topk_ids=np.concatenate(top_ids), topk_probs=np.concatenate(top_probs),
                 target_prob=np.concatenate(target).astype(np.float64), model_type=model.config.model)


def excerpt(text: str, length: int, start: int = 0) -> str:
    """About ``length`` characters of ``text`` from the first paragraph start at or after ``start``.

    Starting after a blank line means the model (which starts from a zero state) and the property labels
    (which start outside quotes and brackets) both start where the text itself starts afresh.
    """
    begin = _paragraph_start(text, length, start)
    return text[begin:begin + length]


def _paragraph_start(text: str, length: int, start: int = 0) -> int:
    """Where :func:`excerpt` begins: after the first blank line within reach of ``start``, else ``start``."""
    if length < 1:
        raise CharlmError(f"excerpt length {length} must be positive")
    at = text.find("\n\n", start)
    begin = at + 2 if 0 <= at < start + max(length // 4, 2000) else start
    while begin < len(text) and text[begin] == "\n":
        begin += 1
    if begin >= len(text):
        raise CharlmError(f"the text has only {len(text)} characters, none from position {start}; give more text")
    return begin


def trace_pieces(model: CharRNN, vocab: Vocab, pieces: Sequence[tuple[str, str]], top_k: int = 5) -> Trace:
    """Trace each (context, text) piece as :func:`trace` does, from its own state set by its context, and join
    the traces, keeping where each piece starts."""
    if not pieces:
        raise CharlmError("no piece to trace; give at least one (context, text) pair")
    traces = [trace(model, vocab, text, top_k, context=context) for context, text in pieces]
    first = traces[0]
    starts = tuple(int(s) for s in np.cumsum([0, *(len(t) for t in traces[:-1])]))
    return Trace(text="".join(t.text for t in traces), vocab=vocab,
                 hidden=[np.concatenate([t.hidden[i] for t in traces]) for i in range(first.num_layers)],
                 cell=None if first.cell is None else [np.concatenate([t.cell[i] for t in traces])  # type: ignore[index]
                                                       for i in range(first.num_layers)],
                 topk_ids=np.concatenate([t.topk_ids for t in traces]),
                 topk_probs=np.concatenate([t.topk_probs for t in traces]),
                 target_prob=np.concatenate([t.target_prob for t in traces]), model_type=first.model_type,
                 starts=starts)


def excerpts(pieces: Sequence[tuple[str, str]], length: int, context_chars: int) -> list[tuple[str, str]]:
    """About ``length`` characters from (context, text) pieces taken in order, each from its first paragraph
    start (:func:`excerpt`'s rule, so property labels start outside quotes and brackets) to its end or until
    ``length`` is reached, with the ``context_chars`` characters before it (from its context and its own text)
    as its context. No excerpt crosses from one piece into the next."""
    if length < 1:
        raise CharlmError(f"excerpt length {length} must be positive")
    out, left = [], length
    for context, text in pieces:
        if left <= 0:
            break
        try:
            begin = _paragraph_start(text, left)
        except CharlmError:
            continue  # an empty piece
        piece = text[begin:begin + left]
        before = (context + text[:begin])[-context_chars:] if context_chars > 0 else ""
        out.append((before, piece))
        left -= len(piece)
    if not out:
        raise CharlmError("the pieces hold no text to excerpt; give a split with characters in it")
    return out
