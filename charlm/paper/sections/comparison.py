"""10 comparison: RNN vs GRU vs LSTM at 1-3 layers with matched parameter counts, the companion paper's Table 1
small, and how often their gates saturate (its Figure 3).

Karpathy, Johnson & Fei-Fei (2015) trained the three cell types at one to three layers with parameter
budgets matched, on War and Peace and the Linux kernel, and compared test losses. Here every model of a
grid gets the same budget (the parameter count of an LSTM with ``lstm_size`` units at that depth), the
hidden size of the other cells solved to meet it, and the same training: same batch shape, same number of
iterations, so each sees the same characters. They call a gate left-saturated when its activation is below
0.1 and right-saturated above 0.9 (:mod:`charlm.analysis.gates` measures it).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from charlm.analysis import gates
from charlm.analysis.display import Shown, stack, table
from charlm.errors import CharlmError
from charlm.paper import results
from charlm.paper.claims import PAPER, Claim, Measured, Said, enough, judged, pct, rule
from charlm.paper.notebook import Corpus
from charlm.split import Split

# --------------------------------------------------------------------------- what the paper says, and the rules

GATED_BEAT_RNN = Said("LSTM and GRU reach a lower loss than the vanilla RNN at matched parameter counts", PAPER,
                      quoted=False)
# Judged per data set, depth and gated cell: each gated cell beside the RNN of the same depth and budget.
MIN_COMPARISONS = 2
GATED_RULE = rule("every gated cell beats the RNN at every depth on every data set",
                  "no gated cell loses to the RNN at every depth of a data set and some comparison is won",
                  MIN_COMPARISONS, "comparisons (gated cell beside the RNN at one depth)")
DEPTH_HELPS = Said("two or more layers reach a lower loss than one", PAPER, quoted=False)
MIN_DEPTH_PAIRS = 2  # (cell, data set) pairs trained at one layer and at more
DEPTH_RULE = rule("for every cell and data set the best deeper model beats one layer", "for more than half of them",
                  MIN_DEPTH_PAIRS, "(cell, data set) pairs at two depths or more")

# The paper's saturation thresholds (Figure 3): below LEFT a gate is left-saturated, above RIGHT right-saturated.
LEFT, RIGHT = 0.1, 0.9
REMEMBERING = Said("some LSTM forget gates are right-saturated most of the time: cells that remember (our reading of "
                   "Figure 3)", PAPER, quoted=False)
# "Most of the time": a unit right-saturated on more than this share of the characters; "some": at least SOME of a
# layer's forget-gate units.
MOST_OF_THE_TIME = 0.5
SOME = 0.05
MIN_UNITS = 20  # LSTM forget-gate units measured
FIRST_LAYER_CALMER = Said("the first layer's gates are saturated less often than the higher layers' (our reading of "
                          "Figure 3)", PAPER, quoted=False)
MIN_DEEP_MODELS = 1  # gated models deeper than one layer

GATES = {"rnn": 1, "gru": 3, "lstm": 4}  # weight blocks per layer (PyTorch stores them stacked)


def param_count(kind: str, layers: int, size: int, vocab: int) -> int:
    """Parameters of a one-hot-input CharRNN: each layer m*(H*in + H*H + 2H), then the head H*V + V."""
    if kind not in GATES:
        raise CharlmError(f"unknown cell type {kind!r}; choose one of {', '.join(GATES)}")
    m, total, inputs = GATES[kind], 0, vocab
    for _ in range(layers):
        total += m * (size * inputs + size * size + 2 * size)
        inputs = size
    return total + size * vocab + vocab


def size_for_budget(kind: str, layers: int, vocab: int, budget: int) -> int:
    """The hidden size whose parameter count is closest to ``budget``."""
    low, high = 1, 1
    while param_count(kind, layers, high, vocab) < budget:
        high *= 2
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (mid, high) if param_count(kind, layers, mid, vocab) < budget else (low, mid)
    return min((low, high), key=lambda s: abs(param_count(kind, layers, s, vocab) - budget))


@dataclass(frozen=True)
class GridModel:
    dataset: str
    kind: str
    layers: int
    rnn_size: int
    n_params: int

    @property
    def name(self) -> str:
        return f"{self.dataset}_{self.kind}{self.layers}x{self.rnn_size}"


def plan(datasets: dict[str, int], kinds: Sequence[str], depths: Sequence[int], lstm_size: int) -> list[GridModel]:
    """Every (dataset, kind, depth) with the budget of an LSTM of ``lstm_size`` at that depth;
    ``datasets`` maps each data set's name to its vocabulary size."""
    out = []
    for dataset, vocab in datasets.items():
        for layers in depths:
            budget = param_count("lstm", layers, lstm_size, vocab)
            for kind in kinds:
                size = lstm_size if kind == "lstm" else size_for_budget(kind, layers, vocab, budget)
                out.append(GridModel(dataset, kind, layers, size, param_count(kind, layers, size, vocab)))
    return out


def plan_sentence(models: Sequence[GridModel]) -> str:
    """How closely the parameter counts match at each depth."""
    parts = []
    for layers in sorted({m.layers for m in models}):
        counts = [m.n_params for m in models if m.layers == layers]
        parts.append(f"{layers} layer{'s' if layers > 1 else ''}: {min(counts):,} to {max(counts):,} parameters "
                     f"({100 * (max(counts) - min(counts)) / max(counts):.1f}% apart)")
    return "Matched budgets: " + "; ".join(parts) + "."


def grid_settings(grid_train: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """The grid's TrainConfig fields with the notebook's training overrides applied (a notebook told to train
    for 20 iterations trains every model of its grid for 20); model overrides stay with the section's own LSTM:
    the grid's sizes come from its budgets."""
    from charlm.trainer import TrainConfig

    return {**grid_train, **{k: v for k, v in overrides.items() if k in TrainConfig.__dataclass_fields__}}


def grid_split(split: Split, train: dict[str, Any]) -> Split:
    """A data set's split for the grid's batches (``train``: the grid's TrainConfig fields): a striped split is
    laid out again with the grid's batch size as its rows and its sequence length as its chunk."""
    if not split.striped:
        return split
    from charlm.trainer import TrainConfig

    config = TrainConfig(**train)
    return Split(split.kind, split.fractions).for_batches(config.batch_size, config.seq_length)


def grid_held_out(texts: dict[str, str], splits: dict[str, Split], train: dict[str, Any]) -> dict[str, list[str]]:
    """Each data set's validation stretches as the grid cut its text (a striped split's stripes, one by one)."""
    out = {}
    for dataset, text in texts.items():
        pieces = grid_split(splits[dataset], train).pieces(len(text))["val"]
        out[dataset] = [text[p.start : p.end] for p in pieces]
    return out


def train_grid(models: Sequence[GridModel], texts: dict[str, str], train: dict[str, Any], out_dir: str | Path,
               splits: dict[str, Split], seed: int = 123,
               printer: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Train each model (charlm.run.train, one run folder each under ``out_dir``) on its data set's text, cut by
    that data set's split as :func:`grid_split` lays it out for the grid's batches, and score it on the validation
    and test splits as evaluation does; the trained models come back under the rows' ``model`` key."""
    from charlm.run import free_run_dir, load_run
    from charlm.run import train as run_train
    from charlm.trainer import TrainConfig

    rows = []
    for m in models:
        config = TrainConfig(**{**train, "seed": seed})
        model = {"model": m.kind, "num_layers": m.layers, "rnn_size": m.rnn_size, "dropout": 0.0, "embedding_size": 0}
        # A rerun never deletes a run: the same settings reload the finished one, others train beside it.
        text, split = texts[m.dataset], grid_split(splits[m.dataset], train)
        run_dir, finished = free_run_dir(Path(out_dir) / m.name, text, model, config, split, m.dataset)
        start = time.perf_counter()
        result = load_run(run_dir, text, split) if finished else run_train(
            text, run_dir, model, config, split=split, progress="none", source=m.dataset)
        seconds = result.state.elapsed if finished else time.perf_counter() - start
        if result.model.num_parameters() != m.n_params:
            raise CharlmError(f"{m.name}: built {result.model.num_parameters():,} parameters, planned {m.n_params:,}")
        st = result.state
        rows.append({"dataset": m.dataset, "cell": m.kind, "layers": m.layers, "rnn_size": m.rnn_size,
                     "n_params": m.n_params, "iterations": st.iteration,
                     "chars_seen": st.iteration * config.batch_size * config.seq_length,
                     "val_loss": result.val_loss, "test_loss": result.test_loss(), "seconds": seconds,
                     "model": result.model, "vocab": result.vocab})
        printer(f"{m.name}: {m.n_params:,} parameters, {st.iteration} iterations, val {result.val_loss:.4f}, "
                f"{seconds:.0f} s")
    return rows


def record_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows without the trained models: what goes into the results record."""
    return [{k: v for k, v in r.items() if k not in ("model", "vocab")} for r in rows]


def gate_saturation(rows: Sequence[dict[str, Any]], held_out: dict[str, Sequence[str]], chars: int) -> dict[str, Any]:
    """Gate saturation (charlm.analysis.gates) of the deepest gated model of each data set and cell type,
    measured on the first ``chars`` characters of that data set's held-out stretches (a striped split's stripes,
    each from a zero state: none is run into the next)."""
    import torch

    deepest: dict[tuple[str, str], dict[str, Any]] = {}
    for r in rows:
        key = (r["dataset"], r["cell"])
        if r["cell"] in gates.GATE_NAMES and r["layers"] >= deepest.get(key, {"layers": 0})["layers"]:
            deepest[key] = r
    out = {}
    for (dataset, cell), r in deepest.items():
        stretches, left = [], chars
        for text in held_out[dataset]:
            if left <= 0:
                break
            if text[:left]:
                stretches.append(torch.tensor(r["vocab"].encode(text[:left], what=f"the {dataset} text")))
                left -= len(stretches[-1])
        out[f"{dataset} {cell.upper()} {r['layers']}x{r['rnn_size']}"] = gates.saturation(r["model"], stretches,
                                                                                         LEFT, RIGHT)
    return out


def loss_table(rows: Sequence[dict[str, Any]], key: str = "test_loss") -> list[dict[str, Any]]:
    """Their Table 1's layout: one row per data set and cell type, one column per depth."""
    table: dict[tuple[str, str], dict[str, Any]] = {}
    for r in rows:
        entry = table.setdefault((r["dataset"], r["cell"]), {"data set": r["dataset"], "cell": r["cell"].upper()})
        entry[f"{r['layers']} layer{'s' if r['layers'] > 1 else ''}"] = r[key]
    return list(table.values())


def best_by_cell(rows: Sequence[dict[str, Any]], dataset: str, key: str = "test_loss") -> dict[str, float]:
    out: dict[str, float] = {}
    for r in rows:
        if r["dataset"] == dataset and r[key] is not None and math.isfinite(r[key]):
            out[r["cell"]] = min(out.get(r["cell"], math.inf), r[key])
    return out


def figure(rows: Sequence[dict[str, Any]], key: str = "test_loss", title: str = "") -> Any:
    """Loss against depth, one line per cell type, one panel per data set."""
    import matplotlib.pyplot as plt

    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    fig, axes = plt.subplots(1, len(datasets), figsize=(4.5 * len(datasets), 3.5), squeeze=False)
    colors = {"rnn": "#e6550d", "gru": "#756bb1", "lstm": "#3182bd"}
    for ax, ds in zip(axes[0], datasets):
        for cell in GATES:
            pts = sorted((r["layers"], r[key]) for r in rows if r["dataset"] == ds and r["cell"] == cell)
            if pts:
                ax.plot(*zip(*pts), "o-", color=colors[cell], label=cell.upper())
        ax.set(xlabel="layers", ylabel=f"{key.replace('_', ' ')} (nats/char)", title=ds)
        ax.set_xticks(sorted({r["layers"] for r in rows}))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def gated_comparisons(rows: Sequence[dict[str, Any]], key: str = "test_loss") -> list[dict[str, Any]]:
    """Each gated cell beside the RNN of the same data set and depth: one row per comparison, ``won`` when the
    gated cell's loss is lower."""
    loss = {(r["dataset"], r["cell"], r["layers"]): r[key] for r in rows
            if r[key] is not None and math.isfinite(r[key])}
    return [{"dataset": ds, "layers": layers, "cell": cell, "loss": v, "rnn_loss": loss[(ds, "rnn", layers)],
             "won": v < loss[(ds, "rnn", layers)]}
            for (ds, cell, layers), v in loss.items() if cell != "rnn" and (ds, "rnn", layers) in loss]


def gated_verdict(comparisons: Sequence[dict[str, Any]]) -> str:
    """Held when every comparison is won; not when a gated cell loses at every depth of a data set, or none is
    won; else partly."""
    if not comparisons or not any(c["won"] for c in comparisons):
        return "not"
    groups: dict[tuple[str, str], list[bool]] = {}
    for c in comparisons:
        groups.setdefault((c["dataset"], c["cell"]), []).append(c["won"])
    if all(c["won"] for c in comparisons):
        return "held"
    return "not" if any(not any(won) for won in groups.values()) else "partly"


def depth_pairs(rows: Sequence[dict[str, Any]], key: str = "test_loss") -> list[dict[str, Any]]:
    """For each (data set, cell) trained at one layer and deeper: whether the best deeper model beats one layer."""
    out = []
    for ds in dict.fromkeys(r["dataset"] for r in rows):
        for cell in GATES:
            by_depth = {r["layers"]: r[key] for r in rows if r["dataset"] == ds and r["cell"] == cell}
            if 1 in by_depth and len(by_depth) > 1:
                deeper = min(v for d, v in by_depth.items() if d > 1)
                out.append({"dataset": ds, "cell": cell, "one_layer": by_depth[1], "best_deeper": deeper,
                            "won": deeper < by_depth[1]})
    return out


def verdicts(rows: Sequence[dict[str, Any]], key: str = "test_loss") -> tuple[str, list[Claim]]:
    """The paper's two findings checked on our grid: gated cells (LSTM, GRU) beat the vanilla RNN (per data set,
    depth and cell), and depth of at least 2 beats one layer. Returns the sentence and the claims; a claim's number
    is its share of wins."""
    sentences = []
    for ds in dict.fromkeys(r["dataset"] for r in rows):
        best = best_by_cell(rows, ds, key)
        parts = ", ".join(f"{c.upper()} {v:.3f}" for c, v in sorted(best.items(), key=lambda kv: kv[1]))
        sentences.append(f"{ds}: best {key.replace('_', ' ')} by cell {parts}")
    compared = gated_comparisons(rows, key)
    won = sum(c["won"] for c in compared)
    lost_everywhere = sorted({f"{c['cell'].upper()} on {c['dataset']}" for c in compared
                              if not any(d["won"] for d in compared
                                         if (d["dataset"], d["cell"]) == (c["dataset"], c["cell"]))})
    gated = (f"a gated cell beats the RNN of the same depth in {won} of {len(compared)} comparisons"
             + (f"; worse than the RNN at every depth: {', '.join(lost_everywhere)}" if lost_everywhere else ""))
    pairs = depth_pairs(rows, key)
    deep_won = sum(p["won"] for p in pairs)
    deep = (f"2+ layers beat 1 layer in {deep_won} of {len(pairs)} (cell, data set) pairs" if pairs else
            "not measured: this profile trains one depth only")
    sentence = "; ".join(sentences) + f". At matched parameters, {gated}; {deep}."
    deep_verdict = "held" if pairs and deep_won == len(pairs) else "partly" if 2 * deep_won > len(pairs) else "not"
    return sentence, [
        Claim.of(GATED_BEAT_RNN, gated, enough(gated_verdict(compared), len(compared), MIN_COMPARISONS), GATED_RULE,
                 won / len(compared) if compared else None, len(compared)),
        Claim.of(DEPTH_HELPS, deep, enough(deep_verdict, len(pairs), MIN_DEPTH_PAIRS), DEPTH_RULE,
                 deep_won / len(pairs) if pairs else None, len(pairs))]


def grid_verdicts(rows: Sequence[dict[str, Any]], key: str = "test_loss") -> Measured:
    """:func:`verdicts` shown: the sentence, then each verdict with its rule and n."""
    sentence, found = verdicts(rows, key)
    return judged(found, sentence)


def published_tables(*corpora: Corpus) -> Shown:
    """The paper's test losses on each of our data sets: the whole text, their model sizes."""
    return stack([table(results.published_losses(c.name), f"their figures on {c.name}: the whole text, their model sizes")
                  for c in corpora])


# --------------------------------------------------------------------------- gate saturation


def saturation_sentence(sat: dict[str, gates.Saturation]) -> str:
    """The paper's observations, checked: LSTM forget gates right-saturated (remembering) in some units, and
    the first layer's gates rarely saturated compared with the last's."""
    parts = []
    for name, s in sat.items():
        rows = s.summary()
        key = "forget" if s.kind == "lstm" else "update"
        gate_rows = [r for r in rows if r["gate"] == key]
        first, last = gate_rows[0], gate_rows[-1]
        parts.append(f"{name}: {s.kind.upper()} {key} gates are right-saturated {100 * first[s.right_key]:.0f}% "
                     f"of the time in layer 1 and {100 * last[s.right_key]:.0f}% in layer {last['layer']}; "
                     f"{100 * first['units never saturated']:.0f}% of layer-1 gate units never saturate")
    return "; ".join(parts) + "."


def _saturated_share(layer: dict[str, tuple[np.ndarray, np.ndarray]]) -> float:
    """Mean share of time a gate unit of this layer spends saturated either way."""
    return float(np.mean([(left + right).mean() for left, right in layer.values()]))


def saturation_verdicts(sat: dict[str, gates.Saturation]) -> Measured:
    """:func:`saturation_claims` shown after :func:`saturation_sentence`, each verdict with its rule and n."""
    return judged(saturation_claims(sat), saturation_sentence(sat))


def saturation_claims(sat: dict[str, gates.Saturation]) -> list[Claim]:
    """Two readings of the paper's Figure 3, checked: some LSTM forget gates stay open (right-saturated) most of
    the time, and the first layer's gates are saturated less than the last layer's."""
    lstm = {name: s for name, s in sat.items() if s.kind == "lstm"}
    remembering = {name: max(float((right > MOST_OF_THE_TIME).mean()) for layer in s.layers
                             for right in [layer["forget"][1]])
                   for name, s in lstm.items()}
    best = max(remembering.values(), default=0.0)
    any_right = any(layer["forget"][1].max() > 0 for s in lstm.values() for layer in s.layers)
    ours = ("; ".join(f"{name}: up to {100 * v:.0f}% of a layer's forget-gate units right-saturated more than half "
                      "the time" for name, v in remembering.items()) or "no LSTM measured")
    units = sum(len(layer["forget"][1]) for s in lstm.values() for layer in s.layers)
    verdict = "held" if best >= SOME else ("partly" if any_right else "not")
    rows = [Claim.of(REMEMBERING, ours, enough(verdict, units, MIN_UNITS),
                     rule(f"at least {pct(SOME)} of a layer's forget-gate units are right-saturated on more than "
                          f"{pct(MOST_OF_THE_TIME)} of the characters", "some unit ever is", MIN_UNITS,
                          "forget-gate units"), best, units)]
    deep = {name: (_saturated_share(s.layers[0]), _saturated_share(s.layers[-1]))
            for name, s in sat.items() if len(s.layers) > 1}
    fewer = sum(first < last for first, last in deep.values())
    ours = ("; ".join(f"{name}: saturated {100 * a:.0f}% of the time in layer 1, {100 * b:.0f}% in the last"
                      for name, (a, b) in deep.items()) or "no model deeper than one layer")
    verdict = "held" if deep and fewer == len(deep) else "partly" if 2 * fewer > len(deep) else "not"
    rows.append(Claim.of(FIRST_LAYER_CALMER, ours, enough(verdict, len(deep), MIN_DEEP_MODELS),
                         rule("every model's first layer is saturated less than its last", "more than half of them",
                              MIN_DEEP_MODELS, "gated models deeper than one layer"),
                         fewer / len(deep) if deep else None, len(deep)))
    return rows
