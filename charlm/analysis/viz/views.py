"""Two views as HTML: text coloured by one cell, and the model's top guesses under each character.

    cell_html(tr, layer, unit)        # (a): -1 blue ... 0 white ... +1 red, shown in Jupyter, savable
    topk_html(tr)                     # (b): under each character its top-k next characters, by probability
    save_html(view, path); check_html(path)

HTML is one ``<div>`` with inline CSS and no external assets, and it is also well-formed XML (checked by
:func:`check_html`): characters are escaped, spaces, newlines, tabs and other control characters are drawn
as visible markers (``␣ ↵ ⇥ ␌``; a newline also breaks the line), and every coloured span sets its own dark
text colour on a light-to-mid background, so it reads the same on light and dark notebook themes.
"""

from __future__ import annotations

import html
import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from charlm.analysis.display import Shown
from charlm.errors import CharlmError
from charlm.analysis.viz.tracing import Trace


class Html(str, Shown):
    """An HTML fragment: a plain ``str`` (saved, joined and parsed as one) that is also a Shown."""

    def __init__(self, text: str = "") -> None:  # str.__new__ has kept the text; html and plain derive from it
        pass

    @property
    def html(self) -> str:
        return str(self)

    def __repr__(self) -> str:
        return self.plain

    @property
    def plain(self) -> str:
        """What a log or a terminal shows instead of the markup."""
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
# A view repeats its per-character markup thousands of times, so what every character shares is set once on its
# container and inherited (the ink colour from the box, the guesses' size from their column), colours are hex, and
# a guess's tooltip says only its probability.
_MARK = "color:#666"
_ON = "text-decoration:underline;text-decoration-color:#111;text-underline-offset:3px"
_COLUMN = ("display:inline-block;vertical-align:top;text-align:center;min-width:1.15em;margin:0 1px 8px 0;"
           "font-size:11px;line-height:1.35")
_TOP = "display:block;padding:0 1px;border-bottom:1px solid #999;font-weight:bold;font-size:13px;line-height:1.7"
_GUESS_ROW = "display:block;padding:0 1px"
_STOP = "display:inline-block;width:2.6em;text-align:center;font-size:11px;color:#111"

# Diverging scale: -1 blue ... 0 near-white ... +1 red; the ends stay light enough for dark text (contrast > 5:1).
_NEG, _MID, _POS = (np.array(c, dtype=float) for c in ((66, 146, 198), (247, 247, 247), (239, 101, 72)))
_GUESS = np.array((49, 163, 84), dtype=float)  # probability shading: white ... green


def _hex(rgb: np.ndarray) -> str:
    return "#{:02x}{:02x}{:02x}".format(*(int(round(x)) for x in rgb))


def _diverging(value: float) -> str:
    if not math.isfinite(value):
        return _hex(_MID)
    v = max(-1.0, min(1.0, value))
    return _hex(_MID + (abs(v) * ((_POS if v > 0 else _NEG) - _MID)))


def _shade(p: float) -> str:
    p = 0.0 if not math.isfinite(p) else max(0.0, min(1.0, p))
    return _hex(np.array((255.0, 255.0, 255.0)) + (0.75 * p) * (_GUESS - 255.0))


def _char_span(char: str, style: str, title: str, extra_class: str = "") -> str:
    shown = visible(char)
    marker = shown != char
    classes = " ".join(c for c in ("cv-m" if marker else "", extra_class) if c)
    cls = f' class="{classes}"' if classes else ""
    tip = html.escape(title, quote=False).replace('"', "&quot;")  # ' needs no escape inside "..."
    return (f'<span{cls} style="{style}{";" + _MARK if marker else ""}" title="{tip}">'
            f"{html.escape(shown, quote=False)}</span>")


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


def cell_html(tr: Trace, layer: int, unit: int, kind: str = "cell", start: int = 0, stop: int | None = None,
              title: str | None = None, note: str = "", underline: np.ndarray | None = None) -> Html:
    """The text coloured by one unit's activation (view (a)): -1 blue, 0 white, +1 red.

    ``underline``: an optional (T,) 0/1 array (e.g. a property label) whose positive characters are
    underlined, to show the property beside the activation.
    """
    values = tr.unit(layer, unit, kind)
    start, stop = tr.span(start, stop)
    label = f"layer {layer % tr.num_layers}, {kind} {unit}"
    parts = []
    for t in range(start, stop):
        char, v = tr.text[t], float(values[t])
        on = underline is not None and bool(underline[t])
        style = f"background:{_diverging(v)}" + (f";{_ON}" if on else "")
        parts.append(_char_span(char, style, f"{label}: {v:+.3f}", "cv-on" if on else ""))
        if char == "\n":
            parts.append("<br/>")
    value_name = "tanh(c)" if kind == "cell" else "h"
    note = note or f"{value_name} of {label} after each character; -1 blue, 0 white, +1 red"
    return _wrap("".join(parts), title if title is not None else label, note, "charlm-cell", scale=True)


def topk_html(tr: Trace, start: int = 0, stop: int | None = None, k: int | None = None,
              title: str = "the model's guesses for the next character",
              cell: tuple[int, int, str] | None = None) -> Html:
    """Under each character, the model's top-k guesses for the *next* one, shaded by probability (view (b)).

    The character itself is shaded by the probability the model gave it before it came (dark: expected), or,
    with ``cell`` = (layer, unit, kind), coloured by that unit's activation: both views in one.
    """
    start, stop = tr.span(start, stop)
    values = tr.unit(*cell) if cell is not None else None
    k = tr.topk_ids.shape[1] if k is None else max(1, min(k, tr.topk_ids.shape[1]))
    chars = tr.vocab.chars
    cols = []
    for t in range(start, stop):
        char = tr.text[t]
        p_char = float(tr.target_prob[t])
        seen = "no prediction (first character)" if not math.isfinite(p_char) else f"p = {p_char:.3f} before it came"
        if values is not None:
            seen += f"; layer {cell[0] % tr.num_layers} {cell[2]} {cell[1]}: {float(values[t]):+.3f}"
        top = _shade(p_char) if values is None else _diverging(float(values[t]))
        col = [_char_span(char, f"{_TOP};background:{top}", f"{char!r}: {seen}", "cv-c")]
        for j in range(k):
            guess, p = chars[int(tr.topk_ids[t, j])], float(tr.topk_probs[t, j])
            col.append(_char_span(guess, f"{_GUESS_ROW};background:{_shade(p)}", f"{visible(guess)} p = {p:.3f}", "cv-g"))
        cols.append(f'<span class="cv-k" style="{_COLUMN}">{"".join(col)}</span>')
        if char == "\n":
            cols.append("<br/>")
    top_note = ("the text, shaded by the probability the model gave each character" if values is None else
                f"the text, coloured by layer {cell[0] % tr.num_layers} {cell[2]} {cell[1]} (-1 blue, 0 white, +1 red)")
    note = (f"top row: {top_note}; below: its {k} likeliest next characters, shaded by probability "
            "(white 0 … green 1)")
    return _wrap("".join(cols), title, note, "charlm-topk", scale=values is not None)


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
        raise CharlmError(f"{where} is not well-formed ({err}); this is a bug in charlm.analysis.viz, please report it") from None


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
