"""Gate activations of LSTM and GRU layers, and how often each gate is saturated.

A gate is left-saturated when its activation is below a threshold ``left`` (near 0: shut) and right-saturated
above ``right`` (near 1: open); :func:`saturation` gives, for every gate unit, the fraction of characters spent in
each state, and :meth:`Saturation.figure` plots one point per unit. PyTorch's fused layers do not expose their gates, so they are recomputed here from each layer's weights and
the hidden states :meth:`charlm.model.CharRNN.activations` returns: the same arithmetic as the fused kernel
(gate order i, f, g, o for the LSTM and r, z, n for the GRU, as ``torch.nn.LSTM`` / ``torch.nn.GRU`` store it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch

from charlm.errors import CharlmError

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
    left: float  # below it a gate counts as left-saturated
    right: float  # above it, right-saturated

    @property
    def left_key(self) -> str:
        return f"left-saturated (<{self.left:g})"

    @property
    def right_key(self) -> str:
        return f"right-saturated (>{self.right:g})"

    def summary(self) -> list[dict[str, Any]]:
        """One row per layer and gate: mean left/right-saturated fractions, and units saturated most of the time."""
        rows = []
        for layer, gates in enumerate(self.layers):
            for gate, (left, right) in gates.items():
                rows.append({"layer": layer + 1, "gate": gate, self.left_key: float(left.mean()),
                             self.right_key: float(right.mean()),
                             "units right-saturated > half the time": float((right > 0.5).mean()),
                             "units left-saturated > half the time": float((left > 0.5).mean()),
                             "units never saturated": float(((left + right) == 0).mean())})
        return rows

    def figure(self, title: str = "") -> Any:
        """Per layer, each gate unit a point (left-saturated fraction, right-saturated fraction)."""
        import matplotlib.pyplot as plt

        colors = {"input": "#3182bd", "forget": "#31a354", "output": "#e6550d", "reset": "#756bb1",
                  "update": "#31a354"}
        fig, axes = plt.subplots(1, len(self.layers), figsize=(3.4 * len(self.layers), 3.4), squeeze=False)
        for ax, (layer, gates) in zip(axes[0], enumerate(self.layers)):
            for gate, (left, right) in gates.items():
                ax.scatter(left, right, s=10, alpha=0.6, color=colors[gate], label=gate)
            ax.plot([0, 1], [1, 0], color="gray", lw=0.6)
            ax.set(xlim=(-0.02, 1.02), ylim=(-0.02, 1.02), xlabel=f"fraction left-saturated (< {self.left:g})",
                   title=f"{self.kind.upper()} layer {layer + 1}")
            ax.grid(alpha=0.3)
        axes[0][0].set_ylabel(f"fraction right-saturated (> {self.right:g})")
        axes[0][0].legend(fontsize=8, loc="upper right")
        if title:
            fig.suptitle(title, fontsize=11)
        fig.tight_layout()
        return fig


def saturation(model: Any, ids: torch.Tensor | Sequence[torch.Tensor], left: float, right: float) -> Saturation:
    """The fraction of characters each gate unit spends below ``left`` and above ``right``, over the ids (T,)
    or over several separate stretches of ids, each fed from a zero state (stripes of a split are not one text)."""
    runs = [gate_activations(model, part) for part in ([ids] if isinstance(ids, torch.Tensor) else ids)]
    if not runs:
        raise CharlmError("no text to measure the gates on; give at least one stretch of ids")
    joined = [{name: np.concatenate([run[layer][name] for run in runs]) for name in runs[0][layer]}
              for layer in range(len(runs[0]))]
    layers = [{name: ((a < left).mean(axis=0), (a > right).mean(axis=0)) for name, a in gates.items()}
              for gates in joined]
    return Saturation(model.config.model, layers, left, right)
