"""Displays: objects with an HTML form for Jupyter and a plain-text form for logs, and showing them.

``Shown`` holds both forms of a table or text block (and, in ``data``, the numbers behind it): the last
expression of a notebook cell renders as HTML, and the same object printed, logged or run headless reads as
text. ``Table`` is a Shown made from rows of dicts (numbers formatted, everything escaped), with a markdown
form for reports. ``show`` and ``show_figure`` put an object or a matplotlib figure on the page where IPython
runs; a figure is saved first when given a path, and closed after so that inline backends do not repeat it.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np


# --------------------------------------------------------------------------- objects with two forms


class Shown:
    """The one display protocol: ``html`` for Jupyter, ``plain`` for logs and headless runs, ``data`` the numbers.

    Every display of the project is a Shown: tables and texts here, the neuron views (``viz.views.Html``), the n-gram
    comparison and the cell ranking. Subclasses may compute ``html`` and ``plain`` as properties instead.
    """

    data: Any = None

    def __init__(self, html_text: str, plain: str, data: Any = None) -> None:
        self.html, self.plain, self.data = html_text, plain, data

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:
        return self.plain


def stack(parts: Sequence[Shown], data: Any = None, sep: str = "\n\n") -> Shown:
    """Several displays one after the other, as one (plain forms joined by ``sep``)."""
    return Shown("".join(p.html for p in parts), sep.join(p.plain for p in parts), data)


_PRE = "white-space: pre-wrap; text-align: left; font-family: monospace; font-size: 12px; margin: 0"


def esc(value: Any) -> str:
    return html.escape(str(value))


def fmt(value: Any) -> str:
    """A table cell's text: '—' for None, 4 significant digits for small floats, thousands separated above."""
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def pre(text: str) -> str:
    """``text`` escaped in a <pre>, so its layout and any markup in it survive."""
    return f"<pre style='{_PRE}'>{esc(text)}</pre>"


def _caption(title: str) -> str:
    return f"<caption style='text-align:left'><b>{esc(title)}</b></caption>" if title else ""


# --------------------------------------------------------------------------- tables


def _keys(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Every key of the rows, in the order they first appear."""
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    return keys


def table_html(rows: Sequence[Mapping[str, Any]], title: str = "", align: str = "") -> str:
    """An HTML table; ``align`` (e.g. 'left') sets every cell's text-align, else the page's default."""
    keys = _keys(rows)
    style = f" style='text-align:{align}'" if align else ""
    head = "".join(f"<th{style}>{esc(k)}</th>" for k in keys)
    body = "".join("<tr>" + "".join(f"<td{style}>{esc(fmt(r.get(k)))}</td>" for k in keys) + "</tr>" for r in rows)
    return f"<table>{_caption(title)}<tr>{head}</tr>{body}</table>"


def table_text(rows: Sequence[Mapping[str, Any]], title: str = "") -> str:
    """The rows as aligned plain-text columns, under the title."""
    keys = _keys(rows)
    widths = [max([len(k)] + [len(fmt(r.get(k))) for r in rows]) for k in keys]
    lines = ["  ".join(k.ljust(w) for k, w in zip(keys, widths))]
    lines += ["  ".join(fmt(r.get(k)).ljust(w) for k, w in zip(keys, widths)) for r in rows]
    return (title + "\n" if title else "") + "\n".join(lines)


def table_markdown(rows: Sequence[Mapping[str, Any]]) -> str:
    keys = _keys(rows)
    lines = ["| " + " | ".join(keys) + " |", "|" + "|".join("---" for _ in keys) + "|"]
    lines += ["| " + " | ".join(fmt(r.get(k)).replace("|", "\\|") for k in keys) + " |" for r in rows]
    return "\n".join(lines)


class Table(Shown):
    """Rows of dicts: an HTML table in Jupyter, aligned text elsewhere, ``markdown()`` for reports.

    ``footer``: a note under the table. ``align``: the cells' text-align (see :func:`table_html`).
    """

    def __init__(self, rows: Sequence[Mapping[str, Any]], title: str = "", footer: str = "", align: str = "") -> None:
        self.rows, self.title, self.footer = list(rows), title, footer
        foot = f"<p style='font-size:12px'>{esc(footer)}</p>" if footer else ""
        super().__init__(table_html(self.rows, title, align) + foot,
                         table_text(self.rows, title) + (f"\n{footer}" if footer else ""), self.rows)

    def markdown(self) -> str:
        return table_markdown(self.rows)


table = Table  # what the notebooks call: nb.table(rows, title)


# --------------------------------------------------------------------------- texts


def side_by_side(columns: dict[str, str], title: str = "") -> Shown:
    """Texts in columns (e.g. one sample per temperature), each in a <pre> so layout and markup survive."""
    head = "".join(f"<th>{esc(k)}</th>" for k in columns)
    cells = "".join(f"<td style='vertical-align:top'>{pre(v)}</td>" for v in columns.values())
    plain = "\n\n".join(f"--- {k} ---\n{v}" for k, v in columns.items())
    return Shown(f"<table style='table-layout:fixed; width:100%'>{_caption(title)}<tr>{head}</tr><tr>{cells}</tr></table>",
                 (title + "\n" if title else "") + plain, dict(columns))


def rows_of_text(rows: Sequence[tuple[str, str]], title: str = "") -> Shown:
    """One labelled text per row (samples taken while training, say)."""
    body = "".join(f"<tr><th style='vertical-align:top; white-space:nowrap'>{esc(k)}</th>"
                   f"<td>{pre(v)}</td></tr>" for k, v in rows)
    return Shown(f"<table>{_caption(title)}{body}</table>",
                 (title + "\n" if title else "") + "\n\n".join(f"--- {k} ---\n{v}" for k, v in rows), list(rows))


def warning(text: str) -> Shown:
    """A loud note (partial data, a fallback data set)."""
    style = "border-left: 6px solid #d9534f; background: #fbeaea; padding: 6px 10px; font-weight: bold"
    return Shown(f"<div style='{style}'>⚠ {esc(text)}</div>", f"⚠ WARNING: {text}", text)


# --------------------------------------------------------------------------- putting things on the page


def _ipython_display() -> Callable[[Any], None] | None:
    """IPython's display function where a kernel or shell is running, else None."""
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        return None
    return display if get_ipython() is not None else None


def show(obj: Any) -> None:
    """Display ``obj`` in Jupyter; elsewhere print its plain form."""
    display = _ipython_display()
    if display is not None:
        display(obj)
    else:
        print(repr(obj))


def figure_png(fig: Any) -> bytes:
    """A matplotlib figure as PNG bytes, as the project renders them all (110 dpi, tight)."""
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return buffer.getvalue()


def save_png(png: bytes, path: str | Path | None) -> None:
    """Write PNG bytes to path, making its folder; None: don't."""
    if path is not None:
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(png)


def save_figure(fig: Any, path: str | Path | None) -> None:
    """Save a matplotlib figure as the project saves them all, making its folder; None: don't."""
    if path is not None:
        save_png(figure_png(fig), path)


def image_of(png: bytes, caption: str = "") -> Shown:
    """PNG bytes as an inline image (HTML) with its caption; the plain form says what the image is."""
    import base64

    data = base64.b64encode(png).decode("ascii")
    return Shown((f"<p>{esc(caption)}</p>" if caption else "") + f"<img style='max-width:100%' src='data:image/png;base64,{data}'/>",
                 f"(image: {caption or 'PNG'})")


def show_figure(fig: Any, path: str | Path | None = None) -> None:
    """Save the figure (if a path is given), display it once, and close it so inline backends don't repeat it."""
    import matplotlib.pyplot as plt

    save_figure(fig, path)
    display = _ipython_display()
    if display is not None:
        display(fig)
    plt.close(fig)


# --------------------------------------------------------------------------- the loss curve


def _smooth(values: np.ndarray, window: int) -> np.ndarray:
    if window <= 1 or len(values) < window:
        return values
    kernel = np.ones(window) / window
    return np.convolve(values, kernel, mode="valid")


def loss_figure(run: Any, references: Mapping[str, float] | None = None, marks: Sequence[int] = (),
                ax: Any = None) -> Any:
    """A charlm.run.RunResult's training loss (smoothed) and validation loss against iterations, with reference
    lines (label: loss); the first reference (the text's unigram entropy) bounds the y axis."""
    import matplotlib.pyplot as plt

    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(8, 4))
    train_losses, val_losses = run.state.train_losses, run.state.val_losses
    if train_losses:
        it, loss = np.arange(1, len(train_losses) + 1), np.array(train_losses)
        w = max(1, len(loss) // 50)
        ax.plot(it, loss, color="#9ecae1", lw=0.8, label="train (each step)")
        if w > 1:
            ax.plot(it[w - 1:], _smooth(loss, w), color="#3182bd", lw=1.8, label=f"train (mean of {w})")
    if val_losses:
        vi, vl = zip(*val_losses)
        ax.plot(vi, vl, "o-", color="#e6550d", lw=1.5, label="validation")
    references = dict(references or {})
    for (label, value), style in zip(references.items(), ("--", ":", "-.", (0, (5, 1)))):
        ax.axhline(value, color="gray", ls=style, lw=1, label=f"{label} ({value:.2f})")
    for m in marks:
        ax.axvline(m, color="#31a354", lw=0.8, alpha=0.6)
    if references and train_losses:
        # The first steps sit far above everything else; keep the interesting range readable.
        top = max([1.3 * next(iter(references.values())), *(v for _, v in val_losses)])
        ax.set_ylim(top=min(top, max(train_losses) * 1.02))
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss (nats/char)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper right")
    if fig is not None:
        fig.tight_layout()
    return fig if fig is not None else ax.figure
