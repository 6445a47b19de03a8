"""Notebook 10's pieces: matched parameter counts, the grid's training and table, gate saturation."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from charlm.analysis import gates
from charlm.checkpoint import read_info
from charlm.errors import CharlmError
from charlm.model import CharRNN, ModelConfig
from charlm.paper.claims import TOO_FEW
from charlm.paper.sections import comparison
from charlm.split import Split


def _numbers(sentence: str) -> list[float]:
    """The numbers a sentence states, in order (thousands separators dropped)."""
    return [float(n) for n in re.findall(r"\d+(?:\.\d+)?", sentence.replace(",", ""))]


@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("layers", [1, 3])
def test_param_count_matches_the_model(kind, layers):
    model = CharRNN(ModelConfig(vocab_size=37, model=kind, num_layers=layers, rnn_size=19, embedding_size=0))
    assert comparison.param_count(kind, layers, 19, 37) == model.num_parameters()


def test_plan_matches_budgets_within_one_unit():
    models = comparison.plan({"warandpeace": 80}, ["rnn", "gru", "lstm"], [1, 2], lstm_size=64)
    assert len(models) == 6
    for layers in (1, 2):
        budget = comparison.param_count("lstm", layers, 64, 80)
        for m in (m for m in models if m.layers == layers):
            step = comparison.param_count(m.kind, layers, m.rnn_size + 1, 80) - m.n_params
            assert abs(m.n_params - budget) <= step, m
    stated = []
    for layers in (1, 2):  # per depth: its number, the smallest and largest count, and how far apart in %
        counts = [m.n_params for m in models if m.layers == layers]
        stated += [layers, min(counts), max(counts), round(100 * (max(counts) - min(counts)) / max(counts), 1)]
    assert _numbers(comparison.plan_sentence(models)) == stated
    rnn = next(m for m in models if m.kind == "rnn" and m.layers == 1)
    assert rnn.rnn_size > 64  # fewer weights per unit: more units for the same budget
    with pytest.raises(CharlmError, match="unknown cell type"):
        comparison.param_count("transformer", 1, 8, 8)


def test_train_grid_same_characters_and_the_table(tmp_path):
    text = "abcabcabd " * 400
    models = comparison.plan({"toy": len(set(text))}, ["rnn", "lstm"], [1, 2], lstm_size=8)
    train = {"batch_size": 4, "seq_length": 8, "max_iters": 30, "eval_interval": 30, "learning_rate": 1e-2}
    split = {"toy": Split("striped", (0.8, 0.1, 0.1))}  # laid out for the grid's batches: 4 rows of 8-chunks
    rows = comparison.train_grid(models, {"toy": text}, train, tmp_path, split, printer=lambda s: None)
    assert read_info(tmp_path / models[0].name).data.split == Split("striped", (0.8, 0.1, 0.1), 4, 8)
    # its validation stripes, laid out by hand: 4 rows of 124 chunks of 8 (99 train, 12 val, 13 test)
    row = 124 * 8
    assert comparison.grid_held_out({"toy": text}, split, train) == {
        "toy": [text[b * row + 99 * 8 + 1 : b * row + 111 * 8 + 1] for b in range(4)]}
    assert {r["chars_seen"] for r in rows} == {30 * 4 * 8}
    assert all(r["val_loss"] < np.log(5) for r in rows)  # learned something below uniform over 5 characters
    table = comparison.loss_table(rows)
    assert [t["cell"] for t in table] == ["RNN", "LSTM"] and set(table[0]) == {"data set", "cell", "1 layer", "2 layers"}
    gated, deep = comparison.verdicts(rows)[1]
    depth = {(r["cell"], r["layers"]): r["test_loss"] for r in rows}
    lstm_wins = [depth[("lstm", d)] < depth[("rnn", d)] for d in (1, 2)]  # the LSTM beside the RNN at each depth
    assert (gated.n, gated.value) == (2, sum(lstm_wins) / 2)
    assert gated.verdict == ("held" if all(lstm_wins) else "partly" if any(lstm_wins) else "not")
    deep_wins = sum(depth[(cell, 2)] < depth[(cell, 1)] for cell in ("rnn", "lstm"))
    assert (deep.n, deep.value) == (2, deep_wins / 2)
    assert deep.verdict == ("held" if deep_wins == 2 else "not")  # one of two is not more than half
    fig = comparison.figure(rows)
    assert len(fig.axes[0].lines) == 2
    saturations = comparison.gate_saturation(rows, {"toy": [text[-500:-400], text[-300:]]}, chars=200)
    assert list(saturations) == ["toy LSTM 2x8"]  # the deepest gated model; the RNN has no gates
    assert {r["gate"] for r in saturations["toy LSTM 2x8"].summary()} == {"input", "forget", "output"}
    assert all("model" not in r and "vocab" not in r for r in comparison.record_rows(rows))
    # A rerun never deletes a run: the same settings reload the finished one, others train beside it.
    (tmp_path / models[0].name / "notes.txt").write_text("mine", encoding="utf-8")
    again = comparison.train_grid(models[:2], {"toy": text}, train, tmp_path, split, printer=lambda s: None)
    assert [r["val_loss"] for r in again] == [r["val_loss"] for r in rows[:2]]
    assert (tmp_path / models[0].name / "notes.txt").read_text(encoding="utf-8") == "mine"
    longer = comparison.train_grid(models[:1], {"toy": text}, {**train, "max_iters": 40}, tmp_path, split,
                                   printer=lambda s: None)
    assert longer[0]["iterations"] == 40 and (tmp_path / f"{models[0].name}.2" / "last").is_dir()


def _manual_lstm_gates(model, ids):
    """Gates by hand, step by step, with torch.nn.LSTMCell semantics on layer 0."""
    w_ih, w_hh, b_ih, b_hh = (t.detach() for t in model._layer_weights(0))
    H = model.config.rnn_size
    h, c = torch.zeros(H), torch.zeros(H)
    forget = []
    for i in ids:
        x = torch.nn.functional.one_hot(torch.tensor(i), model.config.vocab_size).float()
        g = w_ih @ x + b_ih + w_hh @ h + b_hh
        ig, fg, gg, og = g.chunk(4)
        c = torch.sigmoid(fg) * c + torch.sigmoid(ig) * torch.tanh(gg)
        h = torch.sigmoid(og) * torch.tanh(c)
        forget.append(torch.sigmoid(fg).numpy())
    return np.stack(forget)


def test_lstm_gates_match_a_step_by_step_computation():
    torch.manual_seed(0)
    model = CharRNN(ModelConfig(vocab_size=6, model="lstm", num_layers=2, rnn_size=5, embedding_size=0))
    ids = [0, 3, 2, 5, 1, 1, 4]
    acts = gates.gate_activations(model, torch.tensor(ids))
    assert len(acts) == 2 and acts[0]["forget"].shape == (7, 5)
    np.testing.assert_allclose(acts[0]["forget"], _manual_lstm_gates(model, ids), atol=1e-5)


def test_gru_gates_and_saturation_counts():
    torch.manual_seed(1)
    model = CharRNN(ModelConfig(vocab_size=4, model="gru", num_layers=1, rnn_size=3, embedding_size=0))
    with torch.no_grad():
        model.rnn.bias_ih_l0[3:6] = 20.0  # update gate pinned open: right-saturated all the time
        model.rnn.bias_ih_l0[0:3] = -20.0  # reset gate pinned shut: left-saturated
    sat = gates.saturation(model, torch.tensor([0, 1, 2, 3, 2, 1]), 0.1, 0.9)
    left, right = sat.layers[0]["update"]
    assert right.tolist() == [1.0, 1.0, 1.0] and left.tolist() == [0.0, 0.0, 0.0]
    assert sat.layers[0]["reset"][0].tolist() == [1.0, 1.0, 1.0]
    row = next(r for r in sat.summary() if r["gate"] == "update")
    assert row["units right-saturated > half the time"] == 1.0
    # right-saturated 100% of the time in layer 1 and 100% in layer 1 (the last); no unit never saturates
    assert _numbers(comparison.saturation_sentence({"toy": sat})) == [100, 1, 100, 1, 0, 1]
    assert len(sat.figure().axes) == 1


def test_vanilla_rnn_has_no_gates():
    model = CharRNN(ModelConfig(vocab_size=4, model="rnn", num_layers=1, rnn_size=3, embedding_size=0))
    with pytest.raises(CharlmError, match="has no gates"):
        gates.gate_activations(model, torch.tensor([0, 1]))


def test_saturation_claims_read_the_numbers():
    torch.manual_seed(2)
    model = CharRNN(ModelConfig(vocab_size=4, model="lstm", num_layers=2, rnn_size=3, embedding_size=0))
    with torch.no_grad():
        model.rnn.bias_ih_l0[3:6] = 0.0  # layer 1 forget gates near 0.5: never saturated
        model.rnn.weight_ih_l0.zero_()
        model.rnn.weight_hh_l0.zero_()
        model.rnn.bias_hh_l0.zero_()
        model.rnn.bias_ih_l1[3:6] = 20.0  # layer 2 forget gates pinned open
    sat = {"toy": gates.saturation(model, torch.tensor([0, 1, 2, 3, 0]), comparison.LEFT, comparison.RIGHT)}
    first_forget_right, last_forget_right = sat["toy"].layers[0]["forget"][1], sat["toy"].layers[1]["forget"][1]
    assert first_forget_right.tolist() == [0.0, 0.0, 0.0] and last_forget_right.tolist() == [1.0, 1.0, 1.0]
    remember, layers = comparison.saturation_claims(sat)
    # every forget unit of layer 2 is open on all 5 characters; 6 forget units in all, fewer than MIN_UNITS
    assert (remember.verdict, remember.value, remember.n) == (TOO_FEW, 1.0, 6) and comparison.MIN_UNITS > 6
    assert (layers.verdict, layers.value, layers.n) == ("held", 1.0, 1)  # layer 1 calmer than the last, 1 model
    assert comparison.saturation_claims({})[1].verdict == TOO_FEW


def test_saturation_over_separate_stretches_counts_every_character_once():
    """Two stretches, each from a zero state: the fractions are their counts over both lengths, as the gate
    activations of each stretch alone give them."""
    torch.manual_seed(4)
    model = CharRNN(ModelConfig(vocab_size=5, model="lstm", num_layers=2, rnn_size=4, embedding_size=0))
    first, second = torch.tensor([0, 1, 2, 3, 4, 0]), torch.tensor([4, 4, 2, 1])
    sat = gates.saturation(model, [first, second], 0.3, 0.7)
    for layer in range(2):
        for gate in ("input", "forget", "output"):
            a = np.concatenate([gates.gate_activations(model, part)[layer][gate] for part in (first, second)])
            left, right = sat.layers[layer][gate]
            np.testing.assert_allclose(left, (a < 0.3).sum(axis=0) / 10)
            np.testing.assert_allclose(right, (a > 0.7).sum(axis=0) / 10)


def test_the_grid_takes_the_notebooks_training_overrides_not_its_model_ones():
    grid = {"batch_size": 4, "seq_length": 8, "max_iters": 30}
    assert comparison.grid_settings(grid, {"max_iters": 2, "eval_interval": 2, "rnn_size": 8, "num_layers": 1}) == {
        "batch_size": 4, "seq_length": 8, "max_iters": 2, "eval_interval": 2}
    assert grid == {"batch_size": 4, "seq_length": 8, "max_iters": 30}  # the preset's table is not changed
