"""01 helo: the post's toy example, a character model of "hello" with a four-letter vocabulary.

Two halves. The post's one-character API at work on a trained CharRNN: ``step_through`` feeds text through
``CharRNN.step`` and returns what the model predicts after each character; ``step_trace`` shows it as a table and
``helo_figure`` as the post's diagram (confidences before and after training, beside the loss curve).

And the post's vanilla RNN in numpy: its ``step`` function, and a min-char-rnn style forward/backward/update.
The post writes the update as ``h = tanh(W_hh h + W_xh x)`` and the output as ``y = W_hy h``: no biases.
Karpathy's min-char-rnn gist (the "100 lines" the post links) adds a hidden bias ``b_h`` and an output bias
``b_y``, and so does :class:`charlm.model.CharRNN` (PyTorch's RNN has two hidden biases, ``b_ih`` and
``b_hh``, which only ever appear as their sum). So the biases here are optional and start at zero: with
them zero the step is exactly the post's formula; :meth:`MinRNN.from_charrnn` copies a CharRNN's weights
with ``b_h = b_ih + b_hh``, after which both compute the same numbers.

Shapes: V vocabulary size, H hidden units, T steps. Inputs are indices into the vocabulary; ``x`` in the
post is their one-hot vector.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Sequence

import numpy as np
import torch

from charlm.analysis.display import Shown, loss_figure, show_figure, table
from charlm.errors import CharlmError
from charlm.model import CharRNN
from charlm.paper.claims import POST, Claim, Measured, Said, enough, judged, rule
from charlm.run import RunResult
from charlm.run import initial_model as run_initial_model

# --------------------------------------------------------------------------- what the post says, and the rules

PREDICTS_HELLO = Said("its predictions are eventually consistent with the training data in that correct characters "
                      "are always predicted next.", POST + "#character-level-language-models")
# "Predicted": the correct next letter gets more than half the probability (and then it is the likeliest).
CONFIDENT = 0.5
# The post's example is the four steps of "hello": every claim of this section rests on all four.
HELLO_STEPS = 4

STEP_IS_FORWARD = Said("The above specifies the forward pass of a vanilla RNN.", POST + "#recurrent-neural-networks")
# The numpy step (float64) and CharRNN.step (float32) compute the same thing when no score differs by more.
SAME_COMPUTATION = 1e-5

ONE_UPDATE = Said("we would find that the scores of the correct characters (e.g. \"e\" in the first time step) would be "
                  "slightly higher (e.g. 2.3 instead of 2.2), and the scores of incorrect characters would be slightly "
                  "lower.", POST + "#character-level-language-models")

# --------------------------------------------------------------------------- the step API on a trained CharRNN


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


def sample_sentence(sample: str, expected: str) -> str:
    """Whether a (greedy) sample spells what the training text says."""
    same = sample == expected
    return (f"Sampled greedily from {expected[0]!r}: {sample!r}, {'exactly' if same else 'not'} the training "
            f"sequence {expected!r}.")


# --------------------------------------------------------------------------- the post's RNN in numpy


def one_hot(index: int, size: int) -> np.ndarray:
    x = np.zeros(size)
    x[index] = 1.0
    return x


def softmax(scores: np.ndarray) -> np.ndarray:
    e = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@dataclass
class MinRNN:
    W_xh: np.ndarray  # (H, V)
    W_hh: np.ndarray  # (H, H)
    W_hy: np.ndarray  # (V, H)
    b_h: np.ndarray  # (H,) zero: the post's formula
    b_y: np.ndarray  # (V,)
    h: np.ndarray = field(init=False)  # (H,) the state `step` updates

    def __post_init__(self) -> None:
        self.h = np.zeros(self.W_hh.shape[0])

    @classmethod
    def random(cls, vocab_size: int, hidden_size: int, seed: int = 0, scale: float = 0.01) -> "MinRNN":
        """Small random weights and zero biases, as min-char-rnn initialises them."""
        rng = np.random.default_rng(seed)
        return cls(rng.standard_normal((hidden_size, vocab_size)) * scale,
                   rng.standard_normal((hidden_size, hidden_size)) * scale,
                   rng.standard_normal((vocab_size, hidden_size)) * scale,
                   np.zeros(hidden_size), np.zeros(vocab_size))

    @classmethod
    def from_charrnn(cls, model: Any) -> "MinRNN":
        """The same network as a one-layer vanilla :class:`charlm.model.CharRNN` with one-hot inputs."""
        cfg = model.config
        if cfg.model != "rnn" or cfg.num_layers != 1 or cfg.embedding_size:
            raise CharlmError(f"MinRNN mirrors a one-layer vanilla RNN with one-hot input; this model is "
                              f"{cfg.model} {cfg.num_layers}x{cfg.rnn_size} (embedding {cfg.embedding_size})")
        w = {name: p.detach().double().cpu().numpy() for name, p in model.named_parameters()}
        return cls(w["rnn.weight_ih_l0"], w["rnn.weight_hh_l0"], w["head.weight"],
                   w["rnn.bias_ih_l0"] + w["rnn.bias_hh_l0"], w["head.bias"])

    @property
    def vocab_size(self) -> int:
        return self.W_xh.shape[1]

    def parameters(self) -> dict[str, np.ndarray]:
        return {"W_xh": self.W_xh, "W_hh": self.W_hh, "W_hy": self.W_hy, "b_h": self.b_h, "b_y": self.b_y}

    def reset(self) -> None:
        self.h = np.zeros_like(self.h)

    def step(self, x: np.ndarray) -> np.ndarray:
        """The post's step: update the hidden state from the one-hot ``x`` (V,), return the scores y (V,)."""
        self.h = np.tanh(self.W_hh @ self.h + self.W_xh @ x + self.b_h)
        return self.W_hy @ self.h + self.b_y

    def scores(self, inputs: Sequence[int], h0: np.ndarray | None = None) -> np.ndarray:
        """(T, V) output scores for ``inputs``, from ``h0`` (default zeros); the stored state is left alone."""
        saved = self.h
        self.h = np.zeros_like(saved) if h0 is None else h0.copy()
        ys = np.stack([self.step(one_hot(i, self.vocab_size)) for i in inputs])
        self.h = saved
        return ys

    def loss_and_grads(self, inputs: Sequence[int], targets: Sequence[int],
                       h0: np.ndarray | None = None) -> tuple[float, dict[str, np.ndarray], np.ndarray]:
        """Summed cross-entropy of ``targets`` given ``inputs``, its gradients by backpropagation through time
        (min-char-rnn's lossFun), and the last hidden state."""
        if len(inputs) != len(targets) or not len(inputs):
            raise CharlmError(f"inputs and targets must be equally long and not empty ({len(inputs)}, {len(targets)})")
        V, H = self.vocab_size, self.W_hh.shape[0]
        hs = {-1: np.zeros(H) if h0 is None else h0.copy()}
        xs, ps, loss = {}, {}, 0.0
        for t, (i, j) in enumerate(zip(inputs, targets)):
            xs[t] = one_hot(i, V)
            hs[t] = np.tanh(self.W_xh @ xs[t] + self.W_hh @ hs[t - 1] + self.b_h)
            ps[t] = softmax(self.W_hy @ hs[t] + self.b_y)
            loss -= float(np.log(ps[t][j]))
        grads = {k: np.zeros_like(v) for k, v in self.parameters().items()}
        dh_next = np.zeros(H)
        for t in reversed(range(len(inputs))):
            dy = ps[t].copy()
            dy[targets[t]] -= 1.0  # d loss / d scores of softmax + cross-entropy
            grads["W_hy"] += np.outer(dy, hs[t])
            grads["b_y"] += dy
            dh = self.W_hy.T @ dy + dh_next
            draw = (1.0 - hs[t] ** 2) * dh  # back through tanh
            grads["b_h"] += draw
            grads["W_xh"] += np.outer(draw, xs[t])
            grads["W_hh"] += np.outer(draw, hs[t - 1])
            dh_next = self.W_hh.T @ draw
        return loss, grads, hs[len(inputs) - 1]

    def sgd_step(self, grads: dict[str, np.ndarray], learning_rate: float, clip: float | None = 5.0) -> None:
        """One plain gradient step (the post's "parameter update"), gradients clipped as min-char-rnn does."""
        for name, param in self.parameters().items():
            g = np.clip(grads[name], -clip, clip) if clip else grads[name]
            param -= learning_rate * g


def train_adagrad(rnn: MinRNN, inputs: Sequence[int], targets: Sequence[int], iterations: int,
                  learning_rate: float = 0.1) -> list[float]:
    """min-char-rnn's loop on one sequence: forward, backward, Adagrad update; the loss of each iteration."""
    memory = {k: np.zeros_like(v) for k, v in rnn.parameters().items()}
    losses = []
    for _ in range(iterations):
        loss, grads, _ = rnn.loss_and_grads(inputs, targets)
        for name, param in rnn.parameters().items():
            g = np.clip(grads[name], -5, 5)
            memory[name] += g * g
            param -= learning_rate * g / np.sqrt(memory[name] + 1e-8)
        losses.append(loss)
    return losses


def numerical_gradient(rnn: MinRNN, inputs: Sequence[int], targets: Sequence[int], name: str,
                       index: tuple[int, ...], eps: float = 1e-5) -> float:
    """Central difference of the loss in one weight: what the analytic gradient is checked against."""
    param = rnn.parameters()[name]
    old = param[index]
    param[index] = old + eps
    plus = rnn.loss_and_grads(inputs, targets)[0]
    param[index] = old - eps
    minus = rnn.loss_and_grads(inputs, targets)[0]
    param[index] = old
    return (plus - minus) / (2 * eps)


@dataclass
class SingleUpdate:
    """The post's one-update example: the scores of the correct next characters before and after one step."""

    chars: list[str]  # the vocabulary
    inputs: str
    targets: str
    before: np.ndarray  # (T, V) scores
    after: np.ndarray  # (T, V)
    learning_rate: float
    loss_before: float
    loss_after: float

    def rows(self) -> list[dict[str, Any]]:
        out = []
        for t, (a, b) in enumerate(zip(self.inputs, self.targets)):
            j = self.chars.index(b)
            others = [v for v in range(len(self.chars)) if v != j]
            out.append({"step": t + 1, "input": repr(a), "correct next": repr(b),
                        "its score before": float(self.before[t, j]), "after one update": float(self.after[t, j]),
                        "change": float(self.after[t, j] - self.before[t, j]),
                        "mean change of the wrong scores": float(np.mean(self.after[t, others] - self.before[t, others]))})
        return out

    @property
    def raised(self) -> int:
        """How many steps' correct scores went up."""
        return sum(r["change"] > 0 for r in self.rows())

    @property
    def as_the_post_says(self) -> int:
        """How many steps went as the post says: the correct score up and the wrong scores down (on average)."""
        return sum(r["change"] > 0 and r["mean change of the wrong scores"] < 0 for r in self.rows())

    def sentence(self) -> str:
        rows = self.rows()
        first = rows[0]
        up = [r["step"] for r in rows if r["change"] > 0]
        return (f"One gradient step (learning rate {self.learning_rate:g}) raised the correct character's score at "
                f"{self.raised} of {len(self.targets)} steps (steps {', '.join(map(str, up)) or 'none'}) and lowered "
                f"the wrong scores too at {self.as_the_post_says} of them; at the post's example step, "
                f"{first['correct next']} after {first['input']}, it went {first['its score before']:.3f} -> "
                f"{first['after one update']:.3f} (the post: 2.2 -> 2.3). The summed loss fell from "
                f"{self.loss_before:.4f} to {self.loss_after:.4f}: one step on the loss summed over all four steps "
                "lowers the sum, not necessarily each step's part of it.")


def single_update(rnn: MinRNN, chars: Sequence[str], text: str = "hello", learning_rate: float = 0.1) -> SingleUpdate:
    """Score ``text[:-1]`` -> ``text[1:]``, take one plain gradient step on ``rnn`` (in place), score again."""
    chars = list(chars)
    missing = sorted(set(text) - set(chars))
    if missing:
        raise CharlmError(f"{text!r} has characters {missing} outside the vocabulary {chars}")
    inputs, targets = [chars.index(c) for c in text[:-1]], [chars.index(c) for c in text[1:]]
    before = rnn.scores(inputs)
    loss, grads, _ = rnn.loss_and_grads(inputs, targets)
    rnn.sgd_step(grads, learning_rate)
    after = rnn.scores(inputs)
    return SingleUpdate(chars, text[:-1], text[1:], before, after, learning_rate, loss,
                        rnn.loss_and_grads(inputs, targets)[0])


def step_difference(model: Any, chars: Sequence[str], text: str) -> float:
    """Largest |difference| between the scores of ``model.step`` (PyTorch) and :meth:`MinRNN.step` on a copy
    of its weights, feeding ``text`` one character at a time from a zero state."""
    import torch

    rnn = MinRNN.from_charrnn(model)
    chars = list(chars)
    model = model.eval()
    state, worst = None, 0.0
    with torch.no_grad():
        for ch in text:
            ours = rnn.step(one_hot(chars.index(ch), len(chars)))
            logits, state = model.step(torch.tensor([chars.index(ch)]), state)
            worst = max(worst, float(np.abs(logits[0].double().numpy() - ours).max()))
    return worst


def confidence_sentence(probs: np.ndarray, chars: Sequence[str], inputs: str, targets: str) -> str:
    """What the hello diagram shows, in numbers: P(correct next) at each step, and the two 'l' steps."""
    chars = list(chars)
    p = [float(probs[t, chars.index(c)]) for t, c in enumerate(targets)]
    text = ", ".join(f"{b!r} after {a!r}: {v:.2f}" for a, b, v in zip(inputs, targets, p))
    low = min(p)
    return (f"Probability of the correct next letter at each step: {text}. The two 'l' inputs ask for different "
            f"answers ('l', then 'o'), which only the hidden state can tell apart; the lowest is {low:.2f}, so the "
            f"network {'does' if low > CONFIDENT else 'does not yet'} use its memory for it.")


def step_sentence(difference: float, text: str) -> str:
    return (f"Fed {text!r} one character at a time, the numpy step and CharRNN.step (PyTorch) differ by at most "
            f"{difference:.1e} in any score: the same computation, once the post's formula gets CharRNN's biases "
            f"(b_h = b_ih + b_hh, and b_y).")


def training_sentence(losses: Sequence[float], rnn: MinRNN, chars: Sequence[str], text: str) -> str:
    chars = list(chars)
    inputs = [chars.index(c) for c in text[:-1]]
    predicted = "".join(chars[int(i)] for i in rnn.scores(inputs).argmax(axis=1))
    return (f"The numpy loop's summed loss over the 4 steps fell from {losses[0]:.3f} to {losses[-1]:.4f} in "
            f"{len(losses)} Adagrad iterations; its likeliest next letters for {text[:-1]!r} are {predicted!r} "
            f"(want {text[1:]!r}).")


def numpy_loss_figure(losses: Sequence[float], title: str = "numpy RNN on 'hello'") -> Any:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3))
    ax.plot(range(1, len(losses) + 1), losses, color="#3182bd")
    ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel("summed loss (nats)")
    ax.set_title(title, fontsize=11)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- the section's claims


def predicts_claim(confidence_after: np.ndarray, chars: Sequence[str], target: str = "ello") -> Claim:
    """Held when the correct next letter has more than CONFIDENT of the probability at every step of the example;
    partly when it is the likeliest at every step; its number is the lowest such probability."""
    chars = list(chars)
    probs = [confidence_after[t, chars.index(ch)] for t, ch in enumerate(target)]
    likeliest = sum(int(np.argmax(confidence_after[t])) == chars.index(ch) for t, ch in enumerate(target))
    lowest = float(min(probs)) if probs else None
    verdict = ("held" if lowest is not None and lowest > CONFIDENT else
               "partly" if probs and likeliest == len(target) else "not")
    return Claim.of(PREDICTS_HELLO, confidence_sentence(confidence_after, chars, "hell", target) if probs else "no steps",
                    enough(verdict, len(probs), HELLO_STEPS),
                    rule(f"the correct next letter's probability is above {CONFIDENT:g} at every step",
                         "it is the likeliest letter at every step", HELLO_STEPS, "steps"), lowest, len(probs))


def step_claim(step_difference: float, steps_compared: int) -> Claim:
    """Held when the numpy step and CharRNN.step agree to SAME_COMPUTATION on every score."""
    verdict = "held" if step_difference <= SAME_COMPUTATION else "not"
    return Claim.of(STEP_IS_FORWARD, step_sentence(step_difference, "hellohello"),
                    enough(verdict, steps_compared, HELLO_STEPS),
                    rule(f"no score of the two differs by more than {SAME_COMPUTATION:g}", None, HELLO_STEPS, "steps"),
                    step_difference, steps_compared)


def update_claim(update: SingleUpdate) -> Claim:
    """Held when, at every step, the update raises the correct score and lowers the wrong ones (on average);
    partly when it does so at more than half of the steps."""
    steps, good = len(update.targets), update.as_the_post_says
    verdict = "held" if good == steps else "partly" if 2 * good > steps else "not"
    return Claim.of(ONE_UPDATE, update.sentence(), enough(verdict, steps, HELLO_STEPS),
                    rule("at every step the update raises the correct score and lowers the wrong scores' mean",
                         "it does so at more than half of the steps", HELLO_STEPS, "steps"), good, steps)


def claims(confidence_after: np.ndarray, chars: Sequence[str], step_difference: float, update: SingleUpdate,
           steps_compared: int = len("hellohello")) -> list[Claim]:
    """The section's three claims: the trained network predicts "hello", the post's step is the RNN's forward
    pass (``step_difference`` over ``steps_compared`` steps), and one update raises the correct scores."""
    return [predicts_claim(confidence_after, chars), step_claim(step_difference, steps_compared),
            update_claim(update)]


def verdicts(confidence_after: np.ndarray, chars: Sequence[str], step_difference: float, update: SingleUpdate,
             steps_compared: int = len("hellohello")) -> Measured:
    """:func:`claims` shown, each verdict with its rule and n."""
    return judged(claims(confidence_after, chars, step_difference, update, steps_compared))
