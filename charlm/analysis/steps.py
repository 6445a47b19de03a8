"""The post's one-character API at work on small models: the helo diagram's numbers, step by step.

``step_through`` feeds text through ``CharRNN.step`` and returns what the model predicts after each character;
``step_trace`` shows it as a table and ``helo_figure`` as the post's diagram (confidences before and after
training, beside the loss curve).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import torch

from charlm.analysis.display import Shown, loss_figure, show_figure, table
from charlm.model import CharRNN
from charlm.run import RunResult
from charlm.run import initial_model as run_initial_model



def initial_model(run: RunResult, seed: int) -> CharRNN:
    """The weights training started from: the same seed and config rebuild them exactly (charlm.run's own)."""
    return run_initial_model(run.model.config, replace(run.train_config, seed=seed)).eval()


@torch.no_grad()
def step_through(model: CharRNN, vocab: Any, text: str) -> tuple[np.ndarray, list[np.ndarray]]:
    """Feed ``text`` one character at a time with ``model.step``: (T, V) next-character probabilities and the
    hidden state after each character."""
    model.eval()
    device = next(model.parameters()).device
    state, probs, hidden = None, [], []
    for ch in text:
        logits, state = model.step(torch.tensor([vocab.index(ch)], device=device), state)
        probs.append(torch.softmax(logits.float(), dim=-1)[0].cpu().numpy())
        h = state[0] if isinstance(state, tuple) else state
        hidden.append(h[-1, 0].float().cpu().numpy())
    return np.stack(probs), hidden


def step_trace(model: CharRNN, vocab: Any, text: str = "hell", target: str = "ello") -> Shown:
    """The step API at work: input, hidden state, and the most confident next character at each step."""
    probs, hidden = step_through(model, vocab, text)
    rows = []
    for t, (ch, p, h) in enumerate(zip(text, probs, hidden)):
        best = int(p.argmax())
        rows.append({"step": t + 1, "input": repr(ch), "hidden state h": "[" + ", ".join(f"{v:+.2f}" for v in h) + "]",
                     "most confident": repr(vocab.chars[best]), "confidence": float(p[best]),
                     "target": repr(target[t]), "P(target)": float(p[vocab.index(target[t])])})
    return table(rows, f"model.step, one character at a time: {text!r} -> {target!r}")


def helo_figure(before: CharRNN, after: CharRNN, run: RunResult, text: str = "hell", target: str = "ello",
                path: Any = None) -> None:
    """The post's diagram, as numbers: output confidences for each input step before and after training
    (target outlined), and the loss falling to near zero."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    vocab = run.vocab
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), gridspec_kw={"width_ratios": [1, 1, 1.4]})
    for ax, model, label in ((axes[0], before, "before training"), (axes[1], after, "after training")):
        probs, _ = step_through(model, vocab, text)  # (T, V)
        grid = probs.T  # rows: characters, columns: steps
        ax.imshow(grid, cmap="Blues", vmin=0, vmax=1, aspect="auto")
        for v in range(grid.shape[0]):
            for t in range(grid.shape[1]):
                ax.text(t, v, f"{grid[v, t]:.2f}", ha="center", va="center", fontsize=10,
                        color="white" if grid[v, t] > 0.6 else "black")
        for t, ch in enumerate(target):
            ax.add_patch(Rectangle((t - 0.5, vocab.index(ch) - 0.5), 1, 1, fill=False, ec="#31a354", lw=3))
        loss = -np.mean([np.log(probs[t, vocab.index(ch)]) for t, ch in enumerate(target)])
        ax.set_xticks(range(len(text)), [f"in '{a}'\nwant '{b}'" for a, b in zip(text, target)])
        ax.set_yticks(range(len(vocab)), [f"'{c}'" for c in vocab.chars])
        ax.set_title(f"{label}: loss {loss:.3f}", fontsize=11)
        ax.set_ylabel("confidence in next character" if label.startswith("before") else "")
    loss_figure(run, ax=axes[2])
    axes[2].set_title("training loss on 'hello'", fontsize=11)
    axes[2].set_yscale("log")
    fig.suptitle("output confidences for the input 'hell' (green: the character that should come next)", fontsize=11)
    fig.tight_layout()
    show_figure(fig, path)
