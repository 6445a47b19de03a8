"""Which units track which property: every unit scored on held-out text, with the chance level of the search.

    ranking = rank_cells(tr, property_labels(tr.text))
    ranking.best()                    # {property: CellScore} of the unit the fit part picked
    ranking.summary()                 # how many units pass a bar

The trace is cut in two; whatever is fitted (a threshold, a sign) is fitted on the first part and scored on
the second. Binary properties use *balanced* accuracy (mean of the true-positive and true-negative rates) of
a one-unit threshold classifier, so a constant guess scores 0.5 whatever the class balance; continuous ones
use the held-out Pearson correlation, signed by the train part. Picking the best of hundreds of units
flatters the winner, so each score comes with a *chance* level: the same search run against the labels
circularly shifted by half the text, which keeps their run lengths but breaks their link to the text.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from charlm.analysis.display import Shown, Table, table_html, table_text
from charlm.errors import CharlmError
from charlm.analysis.viz.labels import PROPERTIES
from charlm.analysis.viz.tracing import Trace


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


@dataclass(repr=False)
class CellRanking(Shown):
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
        """How many units pass the bar, per kind."""
        rows = []
        for kind in sorted({r.kind for r in self.rows}):
            found = self.interpretable(min_balanced_accuracy, min_correlation, kind)
            rows.append({"units": "LSTM cells tanh(c)" if kind == "cell" else "hidden states h",
                         "interpretable": found["count"], "of": found["total"], "share": round(found["share"], 4),
                         "properties": ", ".join(sorted({p for u in found["units"] for p in u["properties"]}))})
        return Table(rows, "units that track some property on held-out text",
                     f"bar: balanced accuracy >= {min_balanced_accuracy} (binary properties) or correlation >= "
                     f"{min_correlation} (depth, line position), and above the search's chance level", align="left")

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

    @property
    def html(self) -> str:
        return table_html(self.table_rows(), "best unit per property (fitted on the first half, scored on the second)",
                          align="left")

    @property
    def plain(self) -> str:
        return table_text(self.table_rows())

    def __repr__(self) -> str:
        return self.plain


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
