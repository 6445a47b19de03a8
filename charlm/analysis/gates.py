"""Gate activations of LSTM and GRU layers, and how often each gate is saturated (the paper's Figure 3).

Karpathy, Johnson & Fei-Fei (2015) call a gate left-saturated when its activation is below 0.1 and
right-saturated above 0.9, and plot, for every gate unit, the fraction of characters spent in each state.
PyTorch's fused layers do not expose their gates, so they are recomputed here from each layer's weights and
the hidden states :meth:`charlm.model.CharRNN.activations` returns: the same arithmetic as the fused kernel
(gate order i, f, g, o for the LSTM and r, z, n for the GRU, as ``torch.nn.LSTM`` / ``torch.nn.GRU`` store it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from charlm.errors import CharlmError

LEFT, RIGHT = 0.1, 0.9  # the paper's thresholds
GATE_NAMES = {"lstm": ("input", "forget", "output"), "gru": ("reset", "update")}


@torch.no_grad()
def gate_activations(model: Any, ids: torch.Tensor) -> list[dict[str, np.ndarray]]:
    """For each layer, {gate name: (T, H) activations} over the ids (T,) fed from a zero state."""
    kind = model.config.model
    if kind not in GATE_NAMES:
        raise CharlmError(f"a {kind} layer has no gates; gate saturation needs an lstm or gru model")
    model = model.eval()
    idx = ids.reshape(1, -1)
    acts = model.activations(idx)
    layer_input = model._inputs(idx)[0]  # (T, E)
    H = model.config.rnn_size
    out = []
    for layer, hidden in enumerate(acts.hidden):
        h = hidden[0]  # (T, H)
        h_prev = torch.cat([torch.zeros(1, H, dtype=h.dtype, device=h.device), h[:-1]])  # (T, H)
        w_ih, w_hh, b_ih, b_hh = model._layer_weights(layer)
        gi = layer_input @ w_ih.T + b_ih  # (T, G*H)
        gh = h_prev @ w_hh.T + b_hh
        if kind == "lstm":
            i, f, _, o = (gi + gh).chunk(4, dim=1)
            gates = {"input": i, "forget": f, "output": o}
        else:
            (ri, zi, _), (rh, zh, _) = gi.chunk(3, dim=1), gh.chunk(3, dim=1)
            gates = {"reset": ri + rh, "update": zi + zh}
        out.append({name: torch.sigmoid(v).float().cpu().numpy() for name, v in gates.items()})
        layer_input = h
    return out


@dataclass
class Saturation:
    kind: str
    layers: list[dict[str, tuple[np.ndarray, np.ndarray]]]  # per layer, gate -> (left fraction (H,), right (H,))

    def summary(self) -> list[dict[str, Any]]:
        """One row per layer and gate: mean left/right-saturated fractions, and units saturated most of the time."""
        rows = []
        for layer, gates in enumerate(self.layers):
            for gate, (left, right) in gates.items():
                rows.append({"layer": layer + 1, "gate": gate, "left-saturated (<0.1)": float(left.mean()),
                             "right-saturated (>0.9)": float(right.mean()),
                             "units right-saturated > half the time": float((right > 0.5).mean()),
                             "units left-saturated > half the time": float((left > 0.5).mean()),
                             "units never saturated": float(((left + right) == 0).mean())})
        return rows

    def figure(self, title: str = "") -> Any:
        """The paper's Figure 3 layout: per layer, each gate unit a point (left fraction, right fraction)."""
        import matplotlib.pyplot as plt

        colors = {"input": "#3182bd", "forget": "#31a354", "output": "#e6550d", "reset": "#756bb1",
                  "update": "#31a354"}
        fig, axes = plt.subplots(1, len(self.layers), figsize=(3.4 * len(self.layers), 3.4), squeeze=False)
        for ax, (layer, gates) in zip(axes[0], enumerate(self.layers)):
            for gate, (left, right) in gates.items():
                ax.scatter(left, right, s=10, alpha=0.6, color=colors[gate], label=gate)
            ax.plot([0, 1], [1, 0], color="gray", lw=0.6)
            ax.set(xlim=(-0.02, 1.02), ylim=(-0.02, 1.02), xlabel="fraction left-saturated (< 0.1)",
                   title=f"{self.kind.upper()} layer {layer + 1}")
            ax.grid(alpha=0.3)
        axes[0][0].set_ylabel("fraction right-saturated (> 0.9)")
        axes[0][0].legend(fontsize=8, loc="upper right")
        if title:
            fig.suptitle(title, fontsize=11)
        fig.tight_layout()
        return fig


def saturation(model: Any, ids: torch.Tensor, left: float = LEFT, right: float = RIGHT) -> Saturation:
    """The fraction of characters each gate unit spends below ``left`` and above ``right``."""
    layers = [{name: ((a < left).mean(axis=0), (a > right).mean(axis=0)) for name, a in gates.items()}
              for gates in gate_activations(model, ids)]
    return Saturation(model.config.model, layers)


def saturation_sentence(sat: dict[str, Saturation]) -> str:
    """The paper's observations, checked: LSTM forget gates right-saturated (remembering) in some units, and
    the first layer's gates rarely saturated compared with the last's."""
    parts = []
    for name, s in sat.items():
        rows = s.summary()
        key = "forget" if s.kind == "lstm" else "update"
        gate_rows = [r for r in rows if r["gate"] == key]
        first, last = gate_rows[0], gate_rows[-1]
        parts.append(f"{name}: {s.kind.upper()} {key} gates are right-saturated {100 * first['right-saturated (>0.9)']:.0f}% "
                     f"of the time in layer 1 and {100 * last['right-saturated (>0.9)']:.0f}% in layer {last['layer']}; "
                     f"{100 * first['units never saturated']:.0f}% of layer-1 gate units never saturate")
    return "; ".join(parts) + "."


def _saturated_share(gates: dict[str, tuple[np.ndarray, np.ndarray]]) -> float:
    """Mean share of time a gate unit of this layer spends saturated either way."""
    return float(np.mean([(left + right).mean() for left, right in gates.values()]))


def saturation_claims(sat: dict[str, Saturation]) -> list[dict[str, Any]]:
    """Two readings of the paper's Figure 3, checked: some LSTM forget gates stay open (right-saturated) most of
    the time, and the first layer's gates are saturated less than the last layer's."""
    from charlm.analysis.claims import PAPER, claim

    lstm = {name: s for name, s in sat.items() if s.kind == "lstm"}
    remembering = {name: max(float((right > 0.5).mean()) for gates in s.layers for right in [gates["forget"][1]])
                   for name, s in lstm.items()}
    best = max(remembering.values(), default=0.0)
    any_right = any(gates["forget"][1].max() > 0 for s in lstm.values() for gates in s.layers)
    ours = ("; ".join(f"{name}: up to {100 * v:.0f}% of a layer's forget-gate units right-saturated more than half "
                      "the time" for name, v in remembering.items()) or "no LSTM measured")
    rows = [claim("(our reading of Figure 3) some LSTM forget gates are right-saturated most of the time: cells that "
                  "remember", ours, "held" if best > 0 else ("partly" if any_right else "not"), PAPER)]
    deep = {name: (_saturated_share(s.layers[0]), _saturated_share(s.layers[-1]))
            for name, s in sat.items() if len(s.layers) > 1}
    fewer = sum(first < last for first, last in deep.values())
    ours = ("; ".join(f"{name}: saturated {100 * a:.0f}% of the time in layer 1, {100 * b:.0f}% in the last"
                      for name, (a, b) in deep.items()) or "no model deeper than one layer")
    verdict = "not" if not deep or not fewer else ("held" if fewer == len(deep) else "partly")
    rows.append(claim("(our reading of Figure 3) the first layer's gates are saturated less often than the higher "
                      "layers'", ours, verdict, PAPER))
    return rows
