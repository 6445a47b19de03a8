"""Looking inside a trained model: activations, the post's two views, interpretable cells, the n-gram baseline.

The post's last sections show (a) text coloured by one cell's activation — a cell that switches on inside
quotes, one that counts the position in a line — and (b) under each character the model's top five
guesses for the next one. This module computes what those pictures need and measures what they suggest:

    tr = trace(model, vocab, text)              # every layer's h (and LSTM c) after every character, top-k
    cell_html(tr, layer, unit)                  # (a) as self-contained HTML (shown in Jupyter, savable)
    topk_html(tr)                               # (b)
    labels = property_labels(tr.text)           # in quotes, in [[links]], in a URL, bracket depth, column...
    ranking = rank_cells(tr, labels)            # every unit scored on held-out text, best per property
    heatmap(tr, units=...)                      # cells x characters, matplotlib
    ngram_comparison(train, val, lstm_loss, orders)  # the counting baseline beside the LSTM and the paper

Scores (``rank_cells``): the trace is cut in two; whatever is fitted (a threshold, a sign) is fitted on the
first part and scored on the second. Binary properties use *balanced* accuracy (mean of the true-positive
and true-negative rates) of a one-unit threshold classifier, so a constant guess scores 0.5 whatever the
class balance; continuous ones use the held-out Pearson correlation, signed by the train part. Picking the
best of hundreds of units flatters the winner, so each score comes with a *chance* level: the same
search run against the labels circularly shifted by half the text, which keeps their run lengths but
breaks their link to the text.

HTML is one ``<div>`` with inline CSS and no external assets, and it is also well-formed XML (checked by
:func:`check_html`): characters are escaped, spaces, newlines, tabs and other control characters are drawn
as visible markers (``␣ ↵ ⇥ ␌``; a newline also breaks the line), and every coloured span sets its own dark
text colour on a light-to-mid background, so it reads the same on light and dark notebook themes.
"""

from __future__ import annotations

import copy
import html
import math
import re
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import torch

from charlm.errors import CharlmError
from charlm.model import CharRNN
from charlm.vocab import Vocab

# --------------------------------------------------------------------------- the trace


@dataclass
class Trace:
    """What a model did on a text: states after every character and its guesses for the next one.

    hidden[l] is (T, H): layer l's h after reading text[t]. cell[l] is (T, H) raw LSTM c (None for RNN/GRU).
    topk_ids / topk_probs (T, k): the k likeliest next characters after text[:t+1]. target_prob[t] is the
    probability the model gave text[t] before reading it (NaN for t = 0, which had no prediction).
    """

    text: str
    vocab: Vocab
    hidden: list[np.ndarray]
    cell: list[np.ndarray] | None
    topk_ids: np.ndarray
    topk_probs: np.ndarray
    target_prob: np.ndarray
    model_type: str = "lstm"

    def __len__(self) -> int:
        return len(self.text)

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
        """(T, H) activations in [-1, 1]: h, or tanh(c) for LSTM cells (what the post colours by)."""
        if kind not in ("cell", "hidden"):
            raise CharlmError(f"kind {kind!r} must be 'cell' or 'hidden'")
        if kind == "cell" and self.cell is None:
            raise CharlmError(f"a {self.model_type.upper()} has no cell state; use kind='hidden'")
        if not -self.num_layers <= layer < self.num_layers:
            raise CharlmError(f"layer {layer} out of range: the model has {self.num_layers} layer(s), 0..{self.num_layers - 1}")
        return np.tanh(self.cell[layer]) if kind == "cell" else self.hidden[layer]  # type: ignore[index]

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
        p = self.target_prob[1:]
        return float(-np.log(np.maximum(p, 1e-12)).mean()) if len(p) else math.nan


@torch.inference_mode()
def trace(model: CharRNN, vocab: Vocab, text: str, top_k: int = 5, chunk: int = 1024) -> Trace:
    """Run ``text`` through ``model`` (eval mode, state carried across chunks of ``chunk`` characters)."""
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
    if length < 1:
        raise CharlmError(f"excerpt length {length} must be positive")
    at = text.find("\n\n", start)
    begin = at + 2 if 0 <= at < start + max(length // 4, 2000) else start
    while begin < len(text) and text[begin] == "\n":
        begin += 1
    piece = text[begin:begin + length]
    if not piece:
        raise CharlmError(f"the text has only {len(text)} characters, none from position {start}; give more text")
    return piece


# --------------------------------------------------------------------------- HTML


class Html(str):
    """An HTML fragment: a plain ``str`` that Jupyter renders as HTML when it is a cell's value."""

    def _repr_html_(self) -> str:
        return str(self)

    def __repr__(self) -> str:  # what a log or a terminal shows instead of the markup
        text = re.sub(r"<style>.*?</style>|<[^>]+>", "", str(self))
        titles = re.findall(r'class="cv-title">([^<]*)<', str(self))
        return (f"[HTML view, {len(self):,} bytes" + (f": {'; '.join(html.unescape(t) for t in titles)}" if titles else "")
                + f"]\n{html.unescape(text)[:300]}")


_MARKERS = {" ": "␣", "\n": "↵", "\t": "⇥", "\r": "␍"}


def visible(char: str) -> str:
    """How one character is drawn: whitespace and control characters become visible markers."""
    if char in _MARKERS:
        return _MARKERS[char]
    code = ord(char)
    if code < 0x20:
        return chr(0x2400 + code)  # Unicode control pictures: ␀ ... ␟
    if code == 0x7F:
        return "␡"
    if 0x80 <= code < 0xA0 or code in (0xFFFE, 0xFFFF) or 0xD800 <= code < 0xE000:
        return "\ufffd"  # C1 controls, non-characters and lone surrogates: not allowed in (X)HTML text
    return char


def visible_text(text: str) -> str:
    """``text`` with every character replaced by what the views draw for it."""
    return "".join(visible(c) for c in text)


# Styles are inline, not in a <style> block: Jupyter strips <style> from the outputs of an untrusted notebook
# (an executed notebook opened later), and the views must survive that. Class names are only for tests and tools.
_BOX = ("background:#fff;color:#111;padding:8px 10px;border:1px solid #ccc;border-radius:4px;margin:6px 0;"
        "font-family:Menlo,Consolas,'DejaVu Sans Mono',monospace;font-size:13px;line-height:1.7;text-align:left")
_TITLE = "font-family:sans-serif;font-weight:bold;margin-bottom:4px;color:#111"
_NOTE = "font-family:sans-serif;font-size:12px;color:#444;margin-bottom:6px"
_TEXT = "white-space:normal;overflow-wrap:anywhere;word-break:break-all"
_INK, _MARK = "color:#111", "color:#666"
_ON = "text-decoration:underline;text-decoration-color:#111;text-underline-offset:3px"
_COLUMN = "display:inline-block;vertical-align:top;text-align:center;min-width:1.15em;margin:0 1px 8px 0"
_TOP = "display:block;padding:0 1px;border-bottom:1px solid #999;font-weight:bold"
_GUESS_ROW = "display:block;padding:0 1px;font-size:11px;line-height:1.35"
_STOP = "display:inline-block;width:2.6em;text-align:center;font-size:11px;color:#111"

# Diverging scale: -1 blue ... 0 near-white ... +1 red; the ends stay light enough for dark text (contrast > 5:1).
_NEG, _MID, _POS = (np.array(c, dtype=float) for c in ((66, 146, 198), (247, 247, 247), (239, 101, 72)))
_GUESS = np.array((49, 163, 84), dtype=float)  # probability shading: white ... green


def _diverging(value: float) -> str:
    if not math.isfinite(value):
        return "rgb(247,247,247)"
    v = max(-1.0, min(1.0, value))
    rgb = _MID + (abs(v) * ((_POS if v > 0 else _NEG) - _MID))
    return "rgb({},{},{})".format(*(int(round(x)) for x in rgb))


def _shade(p: float) -> str:
    p = 0.0 if not math.isfinite(p) else max(0.0, min(1.0, p))
    rgb = np.array((255.0, 255.0, 255.0)) + (0.75 * p) * (_GUESS - 255.0)
    return "rgb({},{},{})".format(*(int(round(x)) for x in rgb))


def _char_span(char: str, style: str, title: str, extra_class: str = "") -> str:
    shown = visible(char)
    marker = shown != char
    classes = " ".join(c for c in ("cv-m" if marker else "", extra_class) if c)
    cls = f' class="{classes}"' if classes else ""
    return (f'<span{cls} style="{style};{_MARK if marker else _INK}" title="{html.escape(title)}">'
            f"{html.escape(shown)}</span>")


def _scale() -> str:
    stops = (-1.0, -0.5, 0.0, 0.5, 1.0)
    return (f'<div class="cv-note cv-scale" style="{_NOTE}">' + "".join(
        f'<span style="{_STOP};background:{_diverging(v)}">{v:+.1f}</span>' for v in stops) + "</div>")


def _wrap(body: str, title: str, note: str = "", css_class: str = "", scale: bool = False) -> Html:
    head = f'<div class="cv-title" style="{_TITLE}">{html.escape(title)}</div>' if title else ""
    head += f'<div class="cv-note" style="{_NOTE}">{html.escape(note)}</div>' if note else ""
    head += _scale() if scale else ""
    cls = f"charlm-viz {css_class}".strip()
    return Html(f'<div class="{cls}" style="{_BOX}">{head}<div class="cv-text" style="{_TEXT}">{body}</div></div>')


def _bounds(n: int, start: int, stop: int | None) -> tuple[int, int]:
    stop = n if stop is None else min(stop, n)
    if not 0 <= start < stop:
        raise CharlmError(f"character range [{start}, {stop}) is empty or outside the trace of {n} characters")
    return start, stop


def cell_html(tr: Trace, layer: int, unit: int, kind: str = "cell", start: int = 0, stop: int | None = None,
              title: str | None = None, note: str = "", underline: np.ndarray | None = None) -> Html:
    """The text coloured by one unit's activation (the post's view (a)): -1 blue, 0 white, +1 red.

    ``underline``: an optional (T,) 0/1 array (e.g. a property label) whose positive characters are
    underlined, to show the property beside the activation.
    """
    values = tr.unit(layer, unit, kind)
    start, stop = _bounds(len(tr), start, stop)
    label = f"layer {layer % tr.num_layers}, {kind} {unit}"
    parts = []
    for t in range(start, stop):
        char, v = tr.text[t], float(values[t])
        on = underline is not None and bool(underline[t])
        style = f"background:{_diverging(v)}" + (f";{_ON}" if on else "")
        parts.append(_char_span(char, style, f"{label}: {v:+.3f} after {char!r}", "cv-on" if on else ""))
        if char == "\n":
            parts.append("<br/>")
    value_name = "tanh(c)" if kind == "cell" else "h"
    note = note or f"{value_name} of {label} after each character; -1 blue, 0 white, +1 red"
    return _wrap("".join(parts), title if title is not None else label, note, "charlm-cell", scale=True)


def topk_html(tr: Trace, start: int = 0, stop: int | None = None, k: int | None = None,
              title: str = "the model's guesses for the next character") -> Html:
    """Under each character, the model's top-k guesses for the *next* one, shaded by probability (view (b)).

    The character itself is shaded by the probability the model gave it before it came (dark: expected).
    """
    start, stop = _bounds(len(tr), start, stop)
    k = tr.topk_ids.shape[1] if k is None else max(1, min(k, tr.topk_ids.shape[1]))
    chars = tr.vocab.chars
    cols = []
    for t in range(start, stop):
        char = tr.text[t]
        p_char = float(tr.target_prob[t])
        seen = "no prediction (first character)" if not math.isfinite(p_char) else f"p = {p_char:.3f} before it came"
        col = [_char_span(char, f"{_TOP};background:{_shade(p_char)}", f"{char!r}: {seen}", "cv-c")]
        for j in range(k):
            guess, p = chars[int(tr.topk_ids[t, j])], float(tr.topk_probs[t, j])
            col.append(_char_span(guess, f"{_GUESS_ROW};background:{_shade(p)}",
                                  f"guess {j + 1} after {char!r}: {guess!r} p = {p:.3f}", "cv-g"))
        cols.append(f'<span class="cv-k" style="{_COLUMN}">{"".join(col)}</span>')
        if char == "\n":
            cols.append("<br/>")
    note = (f"top row: the text, shaded by the probability the model gave each character; below: its {k} "
            "likeliest next characters, shaded by probability (white 0 … green 1)")
    return _wrap("".join(cols), title, note, "charlm-topk")


def join_html(*parts: str) -> Html:
    """Several views one after the other, as one fragment."""
    return Html("".join(parts))


def document(fragment: str, title: str = "charlm") -> str:
    """A complete HTML5 page around ``fragment`` (also well-formed XML)."""
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/>"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>"
            f"<title>{html.escape(title)}</title></head>"
            f"<body style=\"background:#fff;margin:16px\">{fragment}</body></html>\n")


def save_html(fragment: str, path: str | Path, title: str = "charlm") -> Path:
    """Write ``fragment`` as a self-contained page (UTF-8); return the path."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(document(fragment, title), encoding="utf-8")
    return out


def check_html(source: str | Path) -> ET.Element:
    """Parse a page or fragment we wrote with a strict XML parser; CharlmError if it is not well-formed."""
    text = Path(source).read_text(encoding="utf-8") if isinstance(source, Path) else source
    body = re.sub(r"^\s*<!DOCTYPE html>\s*", "", text, flags=re.I)
    try:
        return ET.fromstring(body)
    except ET.ParseError as err:
        where = f"{source}" if isinstance(source, Path) else "the HTML"
        raise CharlmError(f"{where} is not well-formed ({err}); this is a bug in charlm.viz, please report it") from None


def _classes(node: ET.Element) -> list[str]:
    return (node.get("class") or "").split()


def shown_text(element: ET.Element) -> str:
    """The text a view draws, markers included: the coloured text of a cell view, the top row of a top-k view."""
    columns = [n for n in element.iter() if "cv-c" in _classes(n)]
    if columns:
        return "".join("".join(n.itertext()) for n in columns)
    for node in element.iter():
        if "cv-text" in _classes(node):
            return "".join(node.itertext())
    raise CharlmError("no charlm view in this HTML")


# --------------------------------------------------------------------------- properties of the text

_URL = re.compile(r"(?:https?|ftp)://[^\s\]\[|<>\"'{}]+|www\.[^\s\]\[|<>\"'{}]+")


def _inside_quotes(text: str) -> np.ndarray:
    """1 after reading an opening quote until the closing one. Curly “ opens and ” closes; straight " toggles.

    A backslash-escaped \\" does not count (C strings). A blank line ends an open straight quote (so one lost
    quote cannot flip the rest of a text) but not a curly one: in novels a quotation that runs over several
    paragraphs reopens each with “ and closes only at the end.
    """
    out = np.zeros(len(text), dtype=np.float32)
    inside, straight, prev, escaped = False, False, "", False
    for t, ch in enumerate(text):
        if ch == "\u201c":
            inside, straight = True, False
        elif ch == "\u201d":
            inside = False
        elif ch == '"' and not escaped:
            inside, straight = (not inside), True
        elif ch == "\n" and prev == "\n" and straight:
            inside = False
        out[t] = inside
        escaped = ch == "\\" and not escaped
        prev = ch
    return out


def _depth(text: str, opens: str, closes: str) -> np.ndarray:
    """Nesting depth after each character (never below 0: stray closers are ignored)."""
    table = {ord(c): 1 for c in opens} | {ord(c): -1 for c in closes}
    step = np.array([table.get(ord(c), 0) for c in text], dtype=np.int64)
    depth = np.zeros(len(text), dtype=np.float32)
    d = 0
    for t, s in enumerate(step):
        d = max(0, d + s)
        depth[t] = d
    return depth


def _wiki_links(text: str) -> np.ndarray:
    """1 from a ``[[`` to the matching ``]]`` (both included)."""
    out = np.zeros(len(text), dtype=np.float32)
    depth, t = 0, 0
    while t < len(text):
        pair = text[t:t + 2]
        if pair == "[[":
            depth += 1
            out[t:t + 2] = 1
            t += 2
            continue
        if pair == "]]" and depth:
            out[t:t + 2] = 1
            depth -= 1
            t += 2
            continue
        out[t] = depth > 0
        t += 1
    return out


def _urls(text: str) -> np.ndarray:
    out = np.zeros(len(text), dtype=np.float32)
    for m in _URL.finditer(text):
        end = m.end()
        while end > m.start() and text[end - 1] in ".,;:!?)":  # trailing punctuation belongs to the sentence
            end -= 1
        out[m.start():end] = 1
    return out


def _line_position(text: str) -> np.ndarray:
    out = np.zeros(len(text), dtype=np.float32)
    col = 0
    for t, ch in enumerate(text):
        col = 0 if ch == "\n" else col + 1
        out[t] = col
    return out


def _comments(text: str) -> np.ndarray:
    """C-style comments, /* ... */ and // to the end of the line, delimiters included; string literals skipped."""
    out = np.zeros(len(text), dtype=np.float32)
    t, n = 0, len(text)
    while t < n:
        ch, pair = text[t], text[t:t + 2]
        if pair == "/*":
            end = text.find("*/", t + 2)
            end = n if end < 0 else end + 2
            out[t:end] = 1
            t = end
        elif pair == "//":
            end = text.find("\n", t)
            end = n if end < 0 else end
            out[t:end] = 1
            t = end
        elif ch == '"':  # a string literal on one line: its contents are not comments
            end = t + 1
            while end < n and text[end] not in '"\n':
                end += 2 if text[end] == "\\" else 1
            t = end + 1
        else:
            t += 1
    return out


PROPERTIES: dict[str, str] = {
    "in_quotes": "inside a quotation (curly “ ” or straight \" quotes)",
    "in_parens": "inside ( )",
    "in_wiki_link": "inside a [[wiki link]]",
    "in_url": "inside a URL",
    "in_comment": "inside a C comment (/* */ or //)",
    "bracket_depth": "nesting depth of ( [ {",
    "brace_depth": "nesting depth of { } (scopes in C)",
    "line_position": "characters since the last newline",
}
BINARY = ("in_quotes", "in_parens", "in_wiki_link", "in_url", "in_comment")


def property_labels(text: str) -> dict[str, np.ndarray]:
    """Simple properties of every position of ``text``, as (T,) float32 arrays (binary ones are 0/1).

    A position's value describes the text *after* reading that character (so the opening quote is
    inside, the closing one outside), which is what the state after that character can know.
    """
    paren = _depth(text, "(", ")")
    return {
        "in_quotes": _inside_quotes(text),
        "in_parens": (paren > 0).astype(np.float32),
        "in_wiki_link": _wiki_links(text),
        "in_url": _urls(text),
        "in_comment": _comments(text),
        "bracket_depth": _depth(text, "([{", ")]}"),
        "brace_depth": _depth(text, "{", "}"),
        "line_position": _line_position(text),
    }


# --------------------------------------------------------------------------- ranking cells


@dataclass
class CellScore:
    property: str
    layer: int
    kind: str  # "cell" (tanh c) or "hidden" (h)
    unit: int
    metric: str  # "balanced_accuracy" (binary property) or "correlation" (continuous)
    score: float  # held-out
    train_score: float
    chance: float  # the same search's best held-out score against circularly shifted labels
    sign: int  # +1: the unit is higher where the property holds / grows
    threshold: float | None = None  # binary: predict the property when sign * value > sign * threshold

    @property
    def name(self) -> str:
        return f"layer {self.layer} {self.kind} {self.unit}"

    @property
    def lift(self) -> float:
        """Held-out score above chance (above 0.5 or 0 where no chance level could be measured)."""
        base = self.chance if math.isfinite(self.chance) else (0.5 if self.metric == "balanced_accuracy" else 0.0)
        return self.score - base

    def as_dict(self) -> dict[str, Any]:
        return {"property": self.property, "layer": self.layer, "kind": self.kind, "unit": self.unit,
                "metric": self.metric, "score": self.score, "train_score": self.train_score, "chance": self.chance,
                "sign": self.sign, "threshold": self.threshold}


def _balanced_fit(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each column of x (N, U): best balanced accuracy of a threshold rule on y (N,), its threshold, sign."""
    n = len(y)
    pos = float(y.sum())
    neg = n - pos
    order = np.argsort(x, axis=0, kind="stable")
    xs = np.take_along_axis(x, order, axis=0)
    ys = y[order]  # (N, U)
    below_pos = np.cumsum(ys, axis=0)  # positives among the i+1 smallest
    below = np.arange(1, n + 1, dtype=np.float64)[:, None]
    # rule "value > threshold" with the threshold between sorted positions i and i+1
    tpr = (pos - below_pos) / pos
    tnr = (below - below_pos) / neg
    bal = 0.5 * (tpr + tnr)
    valid = np.ones_like(bal, dtype=bool)
    valid[:-1] = xs[1:] > xs[:-1]  # a threshold must fall between two different values
    valid[-1] = False
    up = np.where(valid, bal, 0.5)
    down = np.where(valid, 1.0 - bal, 0.5)  # rule "value < threshold": the complement
    best_up, best_down = up.max(axis=0), down.max(axis=0)
    sign = np.where(best_up >= best_down, 1, -1)
    idx = np.where(sign > 0, up.argmax(axis=0), down.argmax(axis=0))
    cols = np.arange(x.shape[1])
    nxt = np.minimum(idx + 1, n - 1)
    threshold = 0.5 * (xs[idx, cols] + xs[nxt, cols])
    return np.maximum(best_up, best_down), threshold, sign


def _balanced_score(x: np.ndarray, y: np.ndarray, threshold: np.ndarray, sign: np.ndarray) -> np.ndarray:
    pred = (x * sign) > (threshold * sign)
    pos, neg = y > 0.5, y <= 0.5
    tpr = (pred & pos[:, None]).sum(axis=0) / max(pos.sum(), 1)
    tnr = (~pred & neg[:, None]).sum(axis=0) / max(neg.sum(), 1)
    return 0.5 * (tpr + tnr)


def _corr(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    xc = x - x.mean(axis=0)
    yc = y - y.mean()
    denom = np.sqrt((xc * xc).sum(axis=0) * (yc * yc).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (xc * yc[:, None]).sum(axis=0) / denom
    return np.nan_to_num(r)


@dataclass
class CellRanking:
    """Every (property, unit) score, best first within each property; ``skipped`` says what could not be scored."""

    rows: list[CellScore]
    skipped: dict[str, str]
    units: int  # how many units were scored (layers x kinds x size)
    split: int  # first held-out position

    def for_property(self, prop: str) -> list[CellScore]:
        return [r for r in self.rows if r.property == prop]

    def best(self) -> dict[str, CellScore]:
        out: dict[str, CellScore] = {}
        for r in self.rows:
            if r.property not in out:
                out[r.property] = r
        return out

    def interpretable(self, min_balanced_accuracy: float = 0.8, min_correlation: float = 0.5,
                      kind: str | None = None) -> dict[str, Any]:
        """Units whose held-out score on some property passes the threshold (and beats its chance level)."""
        hits: dict[tuple[int, str, int], list[str]] = {}
        for r in self.rows:
            if kind is not None and r.kind != kind:
                continue
            bar = min_balanced_accuracy if r.metric == "balanced_accuracy" else min_correlation
            if r.score >= bar and r.lift > 0:
                hits.setdefault((r.layer, r.kind, r.unit), []).append(r.property)
        total = len({(r.layer, r.kind, r.unit) for r in self.rows if kind is None or r.kind == kind})
        return {"count": len(hits), "total": total, "share": len(hits) / total if total else 0.0,
                "min_balanced_accuracy": min_balanced_accuracy, "min_correlation": min_correlation,
                "kind": kind or "all", "units": [{"layer": l, "kind": k, "unit": u, "properties": p}
                                                 for (l, k, u), p in sorted(hits.items())]}

    def summary(self, min_balanced_accuracy: float = 0.8, min_correlation: float = 0.5) -> Table:
        """How many units pass the bar, per kind (the post: about 5% of cells looked interpretable)."""
        rows = []
        for kind in sorted({r.kind for r in self.rows}):
            found = self.interpretable(min_balanced_accuracy, min_correlation, kind)
            rows.append({"units": "LSTM cells tanh(c)" if kind == "cell" else "hidden states h",
                         "interpretable": found["count"], "of": found["total"], "share": round(found["share"], 4),
                         "properties": ", ".join(sorted({p for u in found["units"] for p in u["properties"]}))})
        return Table(rows, "units that track some property on held-out text",
                     f"bar: balanced accuracy >= {min_balanced_accuracy} (binary properties) or correlation >= "
                     f"{min_correlation} (depth, line position), and above the search's chance level")

    def best_layer(self) -> tuple[int, str]:
        """(layer, kind) of the highest-scoring best unit: where a heatmap has the most to show."""
        best = max(self.best().values(), key=lambda r: r.lift)
        return best.layer, best.kind

    def top_units(self, layer: int, kind: str, n: int = 24) -> list[int]:
        """Distinct units of one layer and kind by their best held-out lift over any property (for a heatmap)."""
        seen: list[int] = []
        for r in sorted(self.rows, key=lambda r: -r.lift):
            if r.layer == layer and r.kind == kind and r.unit not in seen:
                seen.append(r.unit)
            if len(seen) == n:
                break
        return seen

    def table_rows(self) -> list[dict[str, Any]]:
        rows = []
        for prop, r in self.best().items():
            rows.append({"property": prop, "what": PROPERTIES.get(prop, ""), "best unit": r.name,
                         "metric": "balanced accuracy" if r.metric == "balanced_accuracy" else "correlation",
                         "held-out score": round(r.score, 3), "chance": round(r.chance, 3),
                         "train score": round(r.train_score, 3)})
        for prop, why in self.skipped.items():
            rows.append({"property": prop, "what": PROPERTIES.get(prop, ""), "best unit": "—", "metric": "—",
                         "held-out score": None, "chance": None, "train score": None, "note": why})
        return rows

    def _repr_html_(self) -> str:
        return table_html(self.table_rows(), "best unit per property (fitted on the first half, scored on the second)")

    def __repr__(self) -> str:
        return table_text(self.table_rows())


def rank_cells(tr: Trace, labels: Mapping[str, np.ndarray], split: float = 0.5, kinds: Sequence[str] | None = None,
               min_count: int = 20, chunk: int = 256) -> CellRanking:
    """Score every unit of every layer (and kind) on every property; see the module docstring for how.

    Properties with fewer than ``min_count`` positive or negative positions (binary), or constant
    (continuous), in either part are skipped and listed in ``skipped``.
    """
    n = len(tr)
    cut = int(round(n * split))
    if not 0 < cut < n:
        raise CharlmError(f"split {split} leaves nothing to fit or to score; use a value between 0 and 1")
    kinds = tuple(kinds) if kinds is not None else tr.kinds
    blocks = [(layer, kind, tr.values(layer, kind)) for layer in range(tr.num_layers) for kind in kinds]
    rows: list[CellScore] = []
    skipped: dict[str, str] = {}
    for prop, y_all in labels.items():
        y_all = np.asarray(y_all, dtype=np.float64)
        if y_all.shape != (n,):
            raise CharlmError(f"label {prop!r} has shape {y_all.shape}; it must have one value per character ({n})")
        binary = bool(np.isin(y_all, (0.0, 1.0)).all())
        y_fit, y_test = y_all[:cut], y_all[cut:]
        if binary:
            counts = [(int(p.sum()), int(len(p) - p.sum())) for p in (y_fit, y_test)]
            if min(min(c) for c in counts) < min_count:
                skipped[prop] = (f"too few positions on each side (fit: {counts[0][0]} in / {counts[0][1]} out, "
                                 f"held out: {counts[1][0]} in / {counts[1][1]} out; need {min_count})")
                continue
        elif y_fit.std() == 0 or y_test.std() == 0:
            skipped[prop] = "constant in this text"
            continue
            # the null: the same search against the labels rolled by half the text (the two parts swap)
        y_null = np.roll(y_all, n - cut)
        y_null_fit, y_null_test = y_null[:cut], y_null[cut:]
        null_ok = not binary or all(0 < p.sum() < len(p) for p in (y_null_fit, y_null_test))
        prop_rows: list[CellScore] = []
        null_fit_best, chance = -np.inf, math.nan
        for layer, kind, values in blocks:
            for c0 in range(0, values.shape[1], chunk):
                x = values[:, c0:c0 + chunk].astype(np.float64)
                x_fit, x_test = x[:cut], x[cut:]
                if binary:
                    fit, threshold, sign = _balanced_fit(x_fit, y_fit)
                    score = _balanced_score(x_test, y_test, threshold, sign)
                    if null_ok:
                        n_fit, n_thr, n_sign = _balanced_fit(x_fit, y_null_fit)
                        n_score = _balanced_score(x_test, y_null_test, n_thr, n_sign)
                    metric = "balanced_accuracy"
                else:
                    r_fit = _corr(x_fit, y_fit)
                    sign, fit, threshold = np.where(r_fit >= 0, 1, -1), np.abs(r_fit), None
                    score = _corr(x_test, y_test) * sign
                    n_r = _corr(x_fit, y_null_fit)
                    n_fit, n_score = np.abs(n_r), _corr(x_test, y_null_test) * np.where(n_r >= 0, 1, -1)
                    metric = "correlation"
                # a unit (nearly) constant on the fit part tracks nothing there: it may not be picked
                dead = x_fit.std(axis=0) < 1e-4
                floor = 0.5 if binary else 0.0
                fit = np.where(dead, floor, fit)
                if null_ok:
                    n_fit = np.where(dead, floor, n_fit)
                j = int(np.argmax(n_fit)) if null_ok else 0
                if null_ok and n_fit[j] > null_fit_best:
                    null_fit_best, chance = float(n_fit[j]), float(n_score[j])
                for j in range(x.shape[1]):
                    prop_rows.append(CellScore(prop, layer, kind, c0 + j, metric, float(score[j]), float(fit[j]),
                                               math.nan, int(sign[j]),
                                               float(threshold[j]) if threshold is not None else None))
        for r in prop_rows:
            r.chance = chance
        # the best unit is the one the fit part picks; its held-out score is the honest one
        prop_rows.sort(key=lambda r: -r.train_score)
        rows.extend(prop_rows)
    units = sum(v.shape[1] for _, _, v in blocks)
    return CellRanking(rows, skipped, units, cut)


# --------------------------------------------------------------------------- tables


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def table_html(rows: Sequence[Mapping[str, Any]], title: str = "") -> str:
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    head = "".join(f"<th style=\"text-align:left\">{html.escape(k)}</th>" for k in keys)
    body = "".join("<tr>" + "".join(f"<td style=\"text-align:left\">{html.escape(_fmt(r.get(k)))}</td>" for k in keys)
                   + "</tr>" for r in rows)
    caption = f"<caption style=\"text-align:left\"><b>{html.escape(title)}</b></caption>" if title else ""
    return f"<table>{caption}<tr>{head}</tr>{body}</table>"


def table_text(rows: Sequence[Mapping[str, Any]], title: str = "") -> str:
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    widths = [max([len(k)] + [len(_fmt(r.get(k))) for r in rows]) for k in keys]
    lines = ["  ".join(k.ljust(w) for k, w in zip(keys, widths))]
    lines += ["  ".join(_fmt(r.get(k)).ljust(w) for k, w in zip(keys, widths)) for r in rows]
    return (title + "\n" if title else "") + "\n".join(lines)


def table_markdown(rows: Sequence[Mapping[str, Any]]) -> str:
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    lines = ["| " + " | ".join(keys) + " |", "|" + "|".join("---" for _ in keys) + "|"]
    lines += ["| " + " | ".join(_fmt(r.get(k)).replace("|", "\\|") for k in keys) + " |" for r in rows]
    return "\n".join(lines)


@dataclass
class Table:
    """Rows shown as an HTML table in Jupyter and as aligned text elsewhere; ``markdown()`` for reports."""

    rows: list[dict[str, Any]]
    title: str = ""
    footer: str = ""

    def _repr_html_(self) -> str:
        foot = f"<p style=\"font-size:12px\">{html.escape(self.footer)}</p>" if self.footer else ""
        return table_html(self.rows, self.title) + foot

    def __repr__(self) -> str:
        return table_text(self.rows, self.title) + (f"\n{self.footer}" if self.footer else "")

    def markdown(self) -> str:
        return table_markdown(self.rows)


# --------------------------------------------------------------------------- the post's views for the best cells


def _window(y: np.ndarray, lo: int, length: int) -> int:
    """Start of a ``length`` window in [lo, len(y)) where y changes most often (the most to look at)."""
    n = len(y)
    if n - lo <= length:
        return max(0, n - length)
    changes = np.concatenate([[0], np.cumsum(np.abs(np.diff(y)) > 0)])
    step = max(1, length // 4)
    starts = np.arange(lo, n - length + 1, step)
    counts = changes[starts + length - 1] - changes[starts]
    return int(starts[int(np.argmax(counts))])


def best_cells_html(tr: Trace, ranking: CellRanking, labels: Mapping[str, np.ndarray], length: int = 1200,
                    properties: Iterable[str] | None = None) -> Html:
    """For each scored property, its best unit colouring a held-out stretch of text (property underlined)."""
    parts = []
    best = ranking.best()
    for prop in properties if properties is not None else best:
        if prop not in best:
            continue
        r = best[prop]
        y = np.asarray(labels[prop])
        start = _window(y, ranking.split, length)
        metric = "balanced accuracy" if r.metric == "balanced_accuracy" else "correlation"
        title = f"{prop}: {r.name}  ({metric} {r.score:.3f} on held-out text; chance {r.chance:.3f})"
        binary = r.metric == "balanced_accuracy"
        note = (f"{PROPERTIES.get(prop, prop)}. Colour: {'tanh(c)' if r.kind == 'cell' else 'h'} of {r.name} "
                f"(-1 blue, +1 red)" + ("; underlined: where the property holds" if binary else ""))
        parts.append(cell_html(tr, r.layer, r.unit, r.kind, start, start + length, title=title, note=note,
                               underline=y if binary else None))
    return join_html(*parts)


def heatmap(tr: Trace, layer: int = 0, kind: str = "cell", units: Sequence[int] | None = None, start: int = 0,
            length: int = 80, title: str | None = None, path: str | Path | None = None):
    """A matplotlib Figure of units (rows) x characters (columns), -1 blue ... +1 red; saved to ``path`` if given."""
    from matplotlib.figure import Figure

    values = tr.values(layer, kind)
    units = list(units) if units is not None else list(range(min(32, values.shape[1])))
    if not units:
        raise CharlmError("no units to draw; pass a non-empty list")
    start, stop = _bounds(len(tr), start, start + length)
    grid = values[start:stop, units].T  # (units, chars)
    fig = Figure(figsize=(max(6.0, 0.16 * (stop - start) + 1.5), max(2.5, 0.22 * len(units) + 1.2)))
    ax = fig.subplots()
    image = ax.imshow(grid, cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto", interpolation="nearest")
    ax.set_xticks(range(stop - start), [visible(c) for c in tr.text[start:stop]], fontsize=7, family="monospace")
    ax.set_yticks(range(len(units)), [str(u) for u in units], fontsize=7)
    ax.set_ylabel(f"layer {layer % tr.num_layers} {kind} unit")
    ax.set_xlabel(f"characters {start}..{stop - 1} of the traced text")
    ax.set_title(title or f"{'tanh(c)' if kind == 'cell' else 'h'} of {len(units)} units, layer {layer % tr.num_layers}")
    fig.colorbar(image, ax=ax, fraction=0.025, pad=0.01)
    fig.tight_layout()
    if path is not None:
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, dpi=110, bbox_inches="tight")
    return fig


def ranked_heatmap(tr: Trace, ranking: CellRanking, length: int = 80, units: int = 24,
                   path: str | Path | None = None):
    """:func:`heatmap` of the best-ranked units of the most telling layer, over held-out text."""
    if not ranking.rows:
        raise CharlmError("no property could be scored on this text, so there is no ranking to draw")
    layer, kind = ranking.best_layer()
    # units stuck at +-1 over the held-out text (saturated counters) draw as flat bands: show lively ones first
    spread = tr.values(layer, kind)[ranking.split:].std(axis=0)
    ordered = ranking.top_units(layer, kind, tr.size)
    chosen = ([u for u in ordered if spread[u] >= 0.05] or ordered)[:units]
    prop = next(r.property for r in ranking.rows if r.layer == layer and r.kind == kind and r.unit == chosen[0])
    start = _window(property_labels(tr.text)[prop], ranking.split, length)
    return heatmap(tr, layer, kind, chosen, start, length, path=path,
                   title=f"{len(chosen)} units of layer {layer} ({kind}) that track a property best, on held-out text")


# --------------------------------------------------------------------------- the n-gram baseline


@dataclass
class NgramComparison:
    """Validation loss of n-gram orders beside the LSTM (same split), their samples, and the paper's numbers."""

    rows: list[dict[str, Any]]
    lstm_loss: float
    unigram_loss: float | None
    samples: dict[str, str]
    published: list[dict[str, Any]]
    dataset: str | None

    @property
    def best_ngram(self) -> dict[str, Any]:
        return min((r for r in self.rows if r["model"] != "LSTM"), key=lambda r: r["val_loss"])

    def table(self) -> Table:
        rows = [{"model": r["model"] if r["model"] == "LSTM" else f"{r['order']}-gram",
                 "val loss (nats/char)": r["val_loss"], "bits/char": r["bits_per_char"],
                 "vs LSTM": None if r["model"] == "LSTM" else r["val_loss"] - self.lstm_loss,
                 "fit (s)": r.get("fit_seconds")} for r in self.rows]
        return Table(rows, "LSTM vs Kneser-Ney n-grams on the same validation split",
                     "n-grams are fitted on the LSTM's training split and scored on its validation split, "
                     "each character predicted from the characters before it (the training text included).")

    def published_table(self) -> Table:
        return Table(self.published, "published (Karpathy, Johnson & Fei-Fei 2015, test split, whole text, 80/10/10)")

    def samples_html(self) -> Html:
        cells = "".join(
            f"<td style=\"vertical-align:top;text-align:left;padding:4px 8px\">"
            f"<div style=\"font-weight:bold;text-align:left\">{html.escape(k)}</div>"
            f"<pre style=\"white-space:pre-wrap;text-align:left;margin:0;font-size:12px\">{html.escape(v)}</pre></td>"
            for k, v in self.samples.items())
        return Html(f"<table style=\"table-layout:fixed;width:100%\"><tr>{cells}</tr></table>")

    def _repr_html_(self) -> str:
        parts = [self.table()._repr_html_()]
        if self.published:
            parts.append(self.published_table()._repr_html_())
        return "".join(parts)

    def __repr__(self) -> str:
        parts = [repr(self.table())]
        if self.published:
            parts.append(repr(self.published_table()))
        return "\n\n".join(parts)

    def as_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "lstm_loss": self.lstm_loss, "unigram_loss": self.unigram_loss,
                "published": self.published, "dataset": self.dataset,
                "samples": {k: v[:500] for k, v in self.samples.items()}}


def _published_for(dataset: str | None) -> list[dict[str, Any]]:
    if not dataset:
        return []
    from charlm import results

    canon = results.canonical_dataset(dataset)
    rows = []
    for key, entry in results.PUBLISHED.items():
        if key.startswith("kjf2015_") and entry["dataset"] == canon:
            rows.append({"model": entry["what"], "test loss (nats/char)": entry["value"],
                         "bits/char": entry["value"] / math.log(2), "source": entry["cite"]})
    return rows


def ngram_comparison(train_text: str, val_text: str, lstm_loss: float, orders: Sequence[int] = (1, 2, 3, 5, 10, 20),
                     *, dataset: str | None = None, lstm_sample: str | None = None,
                     sample_orders: Sequence[int] = (), sample_length: int = 300, prime: str = "\n",
                     seed: int = 0) -> NgramComparison:
    """Fit a Kneser-Ney n-gram per order on ``train_text``, score ``val_text``, sample some orders."""
    from charlm.ngram import NGramModel, nats_to_bits

    if not train_text or not val_text:
        raise CharlmError("the n-gram comparison needs a non-empty training and validation text")
    vocab = sorted(set(train_text))
    rows: list[dict[str, Any]] = [{"model": "LSTM", "order": None, "val_loss": float(lstm_loss),
                                   "bits_per_char": nats_to_bits(float(lstm_loss)), "fit_seconds": None}]
    samples: dict[str, str] = {}
    if lstm_sample is not None:
        samples["LSTM"] = lstm_sample
    for order in orders:
        t0 = time.perf_counter()
        model = NGramModel.fit(train_text, order, vocab)
        fit_seconds = time.perf_counter() - t0
        loss = model.loss(val_text, context=train_text)
        rows.append({"model": "n-gram", "order": order, "val_loss": loss, "bits_per_char": nats_to_bits(loss),
                     "fit_seconds": fit_seconds})
        if order in sample_orders:
            samples[f"{order}-gram"] = model.sample(sample_length, 1.0, prime, seed)
        del model
    unigram = next((r["val_loss"] for r in rows if r["order"] == 1), None)
    return NgramComparison(rows, float(lstm_loss), unigram, samples, _published_for(dataset), dataset)


# --------------------------------------------------------------------------- the notebook's section


# The neurons section's presets, in charlm.profiles' format (registered there by setup() unless profiles has its own).
# War and Peace, split 80/10/10 as Karpathy, Johnson & Fei-Fei (2015): its “quotes” and ~70-character lines are
# the post's quote and line-position cells. trace_chars: held-out characters traced; ngram_orders: the baseline.
NEURONS_SECTION: dict[str, Any] = {
    "dataset": "warandpeace", "fractions": (0.8, 0.1, 0.1),
    "trace_chars": 6000, "view_chars": 1200, "topk_chars": 400, "heatmap_chars": 80,
    "ngram_orders": (1, 2, 3, 4, 5, 6, 8, 10, 15, 20), "ngram_sample_orders": (3, 5, 10),
    "smoke": {"model": {"model": "lstm", "num_layers": 1, "rnn_size": 128, "dropout": 0.0, "embedding_size": 0},
              "max_chars": 500_000, "threads": 1, "sample_length": 300, "num_samples": 2,
              "trace_chars": 6000, "ngram_orders": (1, 2, 3, 4, 5, 7, 10, 20),
              "train": {"batch_size": 32, "seq_length": 64, "learning_rate": 3e-3, "max_seconds": 24,
                        "eval_interval": 100_000}},
    "cpu": {"model": {"model": "lstm", "num_layers": 2, "rnn_size": 256, "dropout": 0.0, "embedding_size": 0},
            "sample_length": 500, "trace_chars": 20_000, "threads": 1,  # 2 threads ran 30x slower on a busy 2-core box
            "train": {"batch_size": 50, "seq_length": 100, "max_seconds": 600, "eval_interval": 500}},
    "paper": {"model": {"model": "lstm", "num_layers": 3, "rnn_size": 512, "dropout": 0.5, "embedding_size": 0},
              "sample_length": 1000, "trace_chars": 20_000,
              "train": {"batch_size": 100, "seq_length": 100, "max_epochs": 50, "eval_interval": 500}},
}


def setup(profile: str | None = None, output_dir: str = "../outputs", checkpoint: str | None = None,
          checkpoint_dir: str | None = None, mirror: str | None = None, seed: int = 123,
          overrides: dict[str, Any] | None = None, section: str = "09_neurons"):
    """charlm.notebook.setup for the neurons section, with its presets registered in charlm.profiles."""
    from charlm import notebook, profiles

    profiles.SECTIONS.setdefault("neurons", copy.deepcopy(NEURONS_SECTION))
    return notebook.setup(section, profile, output_dir, checkpoint, checkpoint_dir, mirror, seed, overrides)


def save_views(views: Mapping[str, str], folder: str | Path, prefix: str = "09_neurons") -> dict[str, str]:
    """Save each view as ``<folder>/<prefix>_<name>.html``, check it parses, and return {name: path}."""
    out = {}
    for name, fragment in views.items():
        path = save_html(fragment, Path(folder) / f"{prefix}_{name}.html", f"{prefix}: {name}")
        check_html(path)
        out[name] = str(path)
    return out


def record_extra(tr: Trace, ranking: CellRanking, comparison: "NgramComparison", html_files: Mapping[str, str],
                 checks: Table | None = None) -> dict[str, Any]:
    """What the neurons section adds to its results record."""
    return {
        "trace": {"chars": len(tr), "loss": tr.loss, "held_out_from": ranking.split},
        "best_cells": {p: r.as_dict() for p, r in ranking.best().items()},
        "skipped_properties": dict(ranking.skipped),
        "interpretable": {k: {key: v for key, v in ranking.interpretable(kind=k).items() if key != "units"}
                          for k in tr.kinds},
        "ngram": comparison.as_dict(),
        "html": dict(html_files),
        "checks": checks.rows if checks is not None else [],
    }


def claims(ranking: CellRanking, comparison: NgramComparison, html_files: Mapping[str, str],
           min_margin: float = 0.05) -> Table:
    """What the section must show, checked: raises CharlmError naming the first claim that fails."""
    rows = []
    for name, path in html_files.items():
        check_html(Path(path))
        rows.append({"claim": f"{Path(path).name} is well-formed HTML", "value": "parsed", "ok": True})
    high = [r for r in comparison.rows if r["order"] is not None and r["order"] >= 5]
    uni = comparison.unigram_loss
    ok = bool(high) and uni is not None and min(r["val_loss"] for r in high) < uni
    rows.append({"claim": "an n-gram of order 5+ beats the unigram", "ok": ok,
                 "value": f"{min(r['val_loss'] for r in high):.3f} < {uni:.3f}" if high and uni is not None else "n/a"})
    quote = ranking.best().get("in_quotes")
    ok_q = quote is not None and quote.score > 0.5 + min_margin and quote.lift > min_margin
    rows.append({"claim": f"the best quote cell beats chance by {min_margin}", "ok": ok_q,
                 "value": (f"{quote.score:.3f} vs chance {quote.chance:.3f} ({quote.name})" if quote is not None
                           else ranking.skipped.get("in_quotes", "not scored"))})
    failed = [r["claim"] for r in rows if not r["ok"]]
    if failed:
        raise CharlmError(f"the neurons section does not show what it should: {'; '.join(failed)}")
    return Table(rows, "checked")
