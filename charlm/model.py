"""CharRNN: embedding -> multi-layer RNN/GRU/LSTM -> dropout -> linear decoder over characters.

The recurrent layers are PyTorch's fused kernels (cuDNN on a GPU). ``activations`` replays the same weights
one step at a time, because the fused kernels expose neither the inner layers' outputs nor the LSTM cell state
at every step, and the neuron visualisations need both.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal, NamedTuple, Union, get_args

import torch
import torch.nn.functional as F
from torch import nn

from charlm.errors import CharlmError, check_float, check_int, check_keys

CellType = Literal["rnn", "gru", "lstm"]
CELL_TYPES: tuple[str, ...] = get_args(CellType)
# LSTM: (h, c), each (num_layers, B, H); RNN and GRU: h, (num_layers, B, H).
State = Union[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]


@dataclass
class ModelConfig:
    vocab_size: int
    model: CellType = "lstm"
    rnn_size: int = 128
    num_layers: int = 2
    dropout: float = 0.0
    # 0 feeds one-hot characters as char-rnn did (the post's W_xh x); >0 learns an embedding of that size.
    embedding_size: int = 0

    def __post_init__(self) -> None:
        # The one place model settings are checked: the CLI, the Python API, notebooks and checkpoints all pass here.
        if self.model not in CELL_TYPES:
            raise CharlmError(f"unknown model '{self.model}'; choose one of {', '.join(CELL_TYPES)}")
        self.vocab_size = check_int("vocab_size", self.vocab_size, 1)
        self.rnn_size = check_int("rnn_size", self.rnn_size, 1, 1 << 16)
        self.num_layers = check_int("num_layers", self.num_layers, 1, 64)
        self.embedding_size = check_int("embedding_size", self.embedding_size, 0, 1 << 16)
        self.dropout = check_float("dropout", self.dropout, 0.0)
        if self.dropout >= 1.0:
            raise CharlmError(f"dropout {self.dropout} must be in [0, 1)")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "ModelConfig":
        check_keys("model setting(s)", values, cls.__dataclass_fields__)
        if "vocab_size" not in values:
            raise CharlmError("the model settings lack vocab_size")
        return cls(**values)


class Activations(NamedTuple):
    hidden: list[torch.Tensor]  # one (B, T, H) per layer: h after each character
    cell: list[torch.Tensor] | None  # LSTM only: c after each character, one (B, T, H) per layer
    logits: torch.Tensor  # (B, T, V)
    state: State


_RNN_CLASSES = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}


class CharRNN(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        input_size = config.embedding_size or config.vocab_size
        self.embedding = nn.Embedding(config.vocab_size, config.embedding_size) if config.embedding_size else None
        extra = {"nonlinearity": "tanh"} if config.model == "rnn" else {}
        self.rnn = _RNN_CLASSES[config.model](
            input_size, config.rnn_size, num_layers=config.num_layers, batch_first=True,
            dropout=config.dropout if config.num_layers > 1 else 0.0, **extra,
        )
        self.drop = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.rnn_size, config.vocab_size)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    @torch.no_grad()
    def initialise(self, init_range: float = 0.0, forget_bias: float | None = None) -> "CharRNN":
        """char-rnn's initialisation where asked for: every parameter uniform in [-init_range, init_range] (char-rnn
        used 0.08; 0 keeps PyTorch's per-layer defaults), and the LSTM forget gates' input bias set to
        ``forget_bias`` (char-rnn: 1, "to encourage remembering in the beginning"; None keeps it)."""
        if init_range > 0:
            for p in self.parameters():
                p.uniform_(-init_range, init_range)
        if forget_bias is not None and self.config.model == "lstm":
            size = self.config.rnn_size
            for layer in range(self.config.num_layers):  # PyTorch's gate order: input, forget, cell, output
                getattr(self.rnn, f"bias_ih_l{layer}")[size : 2 * size] = forget_bias
        return self

    def _inputs(self, idx: torch.Tensor) -> torch.Tensor:
        if self.embedding is not None:
            return self.embedding(idx)  # (B, T, E)
        return F.one_hot(idx, self.config.vocab_size).to(self.head.weight.dtype)  # (B, T, V)

    def init_state(self, batch_size: int, device: torch.device | str | None = None) -> State:
        device = device if device is not None else self.head.weight.device
        shape = (self.config.num_layers, batch_size, self.config.rnn_size)
        h = torch.zeros(shape, device=device, dtype=self.head.weight.dtype)
        return (h, torch.zeros_like(h)) if self.config.model == "lstm" else h

    def forward(
        self, idx: torch.Tensor, state: State | None = None, targets: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None, State]:
        """idx (B, T) -> logits (B, T, V), mean cross-entropy in nats/char if targets (B, T) given, final state."""
        out, state = self.rnn(self._inputs(idx), state)  # (B, T, H)
        logits = self.head(self.drop(out))  # (B, T, V)
        loss = None
        if targets is not None:
            # Loss in float32 even under bf16 autocast: log-softmax over the vocabulary needs the range.
            wide = logits.float() if logits.dtype in (torch.float16, torch.bfloat16) else logits
            loss = F.cross_entropy(wide.reshape(-1, logits.shape[-1]), targets.reshape(-1))
        return logits, loss, state

    def step(self, x: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """The post's one-character API: x (B,) -> logits (B, V) for the next character, new state.

        Runs PyTorch's single-step cell kernels on the fused layers' weights: on a CPU the fused kernel
        repacks its weights on every call, which for one character at a time costs ten times the arithmetic.
        """
        cfg = self.config
        if state is None:
            state = self.init_state(x.shape[0], x.device)
        hs = (state[0] if cfg.model == "lstm" else state).unbind(0)
        cs = state[1].unbind(0) if cfg.model == "lstm" else None
        layer_input = self._inputs(x)  # (B, E)
        new_h, new_c = [], []
        for layer in range(cfg.num_layers):
            h, c = _cell_step(cfg.model, layer_input, hs[layer], cs[layer] if cs is not None else None,
                              *self._layer_weights(layer))
            new_h.append(h)
            new_c.append(c)
            layer_input = self.drop(h) if layer < cfg.num_layers - 1 else h  # as nn.LSTM(dropout=...) does
        logits = self.head(self.drop(layer_input))
        final_h = torch.stack(new_h)
        return logits, ((final_h, torch.stack(new_c)) if cfg.model == "lstm" else final_h)

    def _layer_weights(self, layer: int) -> tuple[torch.Tensor, ...]:
        return tuple(getattr(self.rnn, f"{name}_l{layer}") for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))

    def activations(self, idx: torch.Tensor, state: State | None = None) -> Activations:
        """Every layer's hidden (and LSTM cell) state after every character of idx (B, T)."""
        cfg = self.config
        B, T = idx.shape
        if state is None:
            state = self.init_state(B, idx.device)
        h_prev = list((state[0] if cfg.model == "lstm" else state).unbind(0))  # num_layers x (B, H)
        c_prev = list(state[1].unbind(0)) if cfg.model == "lstm" else None
        layer_input = self._inputs(idx)  # (B, T, E)
        hidden, cell = [], [] if cfg.model == "lstm" else None
        for layer in range(cfg.num_layers):
            weights = self._layer_weights(layer)
            h, c = h_prev[layer], (c_prev[layer] if c_prev is not None else None)
            hs, cs = [], []
            for t in range(T):
                h, c = _cell_step(cfg.model, layer_input[:, t], h, c, *weights)
                hs.append(h)
                cs.append(c)
            hidden.append(torch.stack(hs, dim=1))  # (B, T, H)
            if cell is not None:
                cell.append(torch.stack(cs, dim=1))
            h_prev[layer] = h
            if c_prev is not None:
                c_prev[layer] = c
            # Dropout between layers only matters in training; activations are read in eval mode.
            layer_input = hidden[-1]
        logits = self.head(hidden[-1])
        final_h = torch.stack(h_prev)
        final: State = (final_h, torch.stack(c_prev)) if c_prev is not None else final_h
        return Activations(hidden, cell, logits, final)


def _cell_step(kind: str, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor | None, w_ih: torch.Tensor,
               w_hh: torch.Tensor, b_ih: torch.Tensor, b_hh: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One step of one layer, x (B, E) -> h (B, H) (and c for the LSTM), with the fused layer's weights."""
    if kind == "lstm":
        return torch.lstm_cell(x, (h, c), w_ih, w_hh, b_ih, b_hh)
    if kind == "gru":
        return torch.gru_cell(x, h, w_ih, w_hh, b_ih, b_hh), None
    return torch.rnn_tanh_cell(x, h, w_ih, w_hh, b_ih, b_hh), None


def last_rows(state: State, rows: int) -> State:
    """The state of the last ``rows`` sequences of a batch: (num_layers, B, H) -> (num_layers, rows, H)."""
    if isinstance(state, tuple):
        return tuple(s[:, -rows:].contiguous() for s in state)  # type: ignore[return-value]
    return state[:, -rows:].contiguous()


def detach_state(state: State) -> State:
    """Cut the graph between batches (truncated BPTT) while keeping the values."""
    return tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()
