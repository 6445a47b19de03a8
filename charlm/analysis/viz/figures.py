"""The views for the cells the search found: each property's best cell over text, and heatmaps of many.

    best_cells_html(tr, ranking, labels)   # per property, its best unit colouring held-out text
    heatmap(tr, layer, kind, units)        # units x characters, matplotlib
    ranked_heatmap(tr, ranking)            # the heatmap of the best-ranked units of the most telling layer
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from charlm.analysis.display import save_figure
from charlm.errors import CharlmError
from charlm.analysis.viz.cells import CellRanking
from charlm.analysis.viz.labels import PROPERTIES, property_labels
from charlm.analysis.viz.tracing import Trace
from charlm.analysis.viz.views import Html, cell_html, join_html, visible


def _window(y: np.ndarray, lo: int, length: int, starts: Sequence[int] = (0,)) -> tuple[int, int]:
    """[start, stop) of a window of up to ``length`` positions, from ``lo`` on where it can, in which y changes most
    often (the most to look at); the window lies inside one traced piece (``starts``: where the pieces begin). A
    longer window beats a shorter one; a piece with less than ``length`` left after ``lo`` reaches back before it."""
    n = len(y)
    changes = np.concatenate([[0], np.cumsum(np.abs(np.diff(y)) > 0)])
    step = max(1, length // 4)
    best, best_key = (max(0, n - length), n), (-1, -1)
    for a, b in zip(starts, (*starts[1:], n)):
        if b <= lo:
            continue
        if b - max(a, lo) <= length:
            candidates = [(max(a, b - length), b)]
        else:
            candidates = [(int(s), int(s) + length) for s in np.arange(max(a, lo), b - length + 1, step)]
        for start, stop in candidates:
            key = (stop - start, int(changes[stop - 1] - changes[start]))
            if key > best_key:
                best, best_key = (start, stop), key
    return best


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
        start, stop = _window(y, ranking.split, length, tr.starts)
        metric = "balanced accuracy" if r.metric == "balanced_accuracy" else "correlation"
        title = f"{prop}: {r.name}  ({metric} {r.score:.3f} on held-out text; chance {r.chance:.3f})"
        binary = r.metric == "balanced_accuracy"
        note = (f"{PROPERTIES.get(prop, prop)}. Colour: {'tanh(c)' if r.kind == 'cell' else 'h'} of {r.name} "
                f"(-1 blue, +1 red)" + ("; underlined: where the property holds" if binary else ""))
        parts.append(cell_html(tr, r.layer, r.unit, r.kind, start, stop, title=title, note=note,
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
    start, stop = tr.span(start, start + length)
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
    save_figure(fig, path)
    return fig


def ranked_heatmap(tr: Trace, ranking: CellRanking, length: int = 80, units: int = 24,
                   path: str | Path | None = None, labels: Mapping[str, np.ndarray] | None = None):
    """:func:`heatmap` of the best-ranked units of the most telling layer, over held-out text.

    ``labels``: the property labels the ranking was made from (computed from the trace if not given).
    """
    if not ranking.rows:
        raise CharlmError("no property could be scored on this text, so there is no ranking to draw")
    layer, kind = ranking.best_layer()
    # units stuck at +-1 over the held-out text (saturated counters) draw as flat bands: show lively ones first
    spread = tr.values(layer, kind)[ranking.split:].std(axis=0)
    ordered = ranking.top_units(layer, kind, tr.size)
    chosen = ([u for u in ordered if spread[u] >= 0.05] or ordered)[:units]
    # the window follows the property the first unit tracks best (every unit has a row for every property)
    prop = max((r for r in ranking.rows if r.layer == layer and r.kind == kind and r.unit == chosen[0]),
               key=lambda r: r.lift).property
    start, stop = _window((labels if labels is not None else property_labels(tr.text, tr.starts))[prop],
                          ranking.split, length, tr.starts)
    return heatmap(tr, layer, kind, chosen, start, stop - start, path=path,
                   title=f"{len(chosen)} units of layer {layer} ({kind}) that track a property best, on held-out text")
