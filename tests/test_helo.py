"""Notebook 01's numpy RNN: its gradient against finite differences, its step against CharRNN.step."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from charlm.paper.sections import helo
from charlm.errors import CharlmError
from charlm.model import CharRNN, ModelConfig

CHARS = ["e", "h", "l", "o"]


def _numbers(sentence: str) -> list[float]:
    """The numbers a sentence states, in order."""
    return [float(n) for n in re.findall(r"\d+(?:\.\d+)?", sentence.replace(",", ""))]
HELLO_IN, HELLO_OUT = [1, 0, 2, 2], [0, 2, 2, 3]


def _rnn(seed=0):
    rnn = helo.MinRNN.random(4, 3, seed=seed, scale=0.5)
    rnn.b_h[:] = np.random.default_rng(seed + 1).standard_normal(3) * 0.3  # biases too, so their gradients count
    rnn.b_y[:] = np.random.default_rng(seed + 2).standard_normal(4) * 0.3
    return rnn


@pytest.mark.parametrize("name", ["W_xh", "W_hh", "W_hy", "b_h", "b_y"])
def test_gradient_matches_finite_differences(name):
    rnn = _rnn()
    _, grads, _ = rnn.loss_and_grads(HELLO_IN, HELLO_OUT)
    for index in np.ndindex(*rnn.parameters()[name].shape):
        numeric = helo.numerical_gradient(rnn, HELLO_IN, HELLO_OUT, name, index)
        assert grads[name][index] == pytest.approx(numeric, rel=1e-5, abs=1e-8), (name, index)


def test_step_is_the_posts_formula_without_biases():
    rnn = helo.MinRNN.random(4, 3, seed=3, scale=0.5)
    x = helo.one_hot(2, 4)
    y = rnn.step(x)
    h = np.tanh(rnn.W_hh @ np.zeros(3) + rnn.W_xh @ x)
    np.testing.assert_allclose(rnn.h, h)
    np.testing.assert_allclose(y, rnn.W_hy @ h)


def test_step_equals_charrnn_step_on_the_same_weights():
    torch.manual_seed(0)
    model = CharRNN(ModelConfig(vocab_size=4, model="rnn", num_layers=1, rnn_size=3, embedding_size=0, dropout=0.0))
    assert helo.step_difference(model, CHARS, "hellohell") < 1e-6
    # the biases are real: dropping them changes the answer, so the match is not by accident
    rnn = helo.MinRNN.from_charrnn(model)
    assert np.abs(rnn.b_h).max() > 1e-3
    rnn.b_h[:] = 0
    with torch.no_grad():
        logits, _ = model.step(torch.tensor([1]))
    assert np.abs(rnn.step(helo.one_hot(1, 4)) - logits[0].double().numpy()).max() > 1e-4


def test_from_charrnn_refuses_other_models():
    model = CharRNN(ModelConfig(vocab_size=4, model="lstm", num_layers=1, rnn_size=3, embedding_size=0))
    with pytest.raises(CharlmError, match="one-layer vanilla RNN"):
        helo.MinRNN.from_charrnn(model)


def test_training_on_hello_learns_it():
    rnn = helo.MinRNN.random(4, 3, seed=0, scale=0.5)
    losses = helo.train_adagrad(rnn, HELLO_IN, HELLO_OUT, 300, learning_rate=0.1)
    assert losses[0] > 5.0 and losses[-1] < 0.1
    assert [int(i) for i in rnn.scores(HELLO_IN).argmax(axis=1)] == HELLO_OUT


def test_single_update_raises_correct_scores():
    rnn = helo.MinRNN.random(4, 3, seed=1, scale=0.5)
    update = helo.single_update(rnn, CHARS, "hello", learning_rate=0.1)
    assert update.loss_after < update.loss_before
    assert update.raised >= 3
    assert update.raised == sum(r["change"] > 0 for r in update.rows())
    assert _numbers(update.sentence())[:3] == [0.1, update.raised, 4]  # learning rate, steps raised, of 4
    with pytest.raises(CharlmError, match="outside the vocabulary"):
        helo.single_update(rnn, CHARS, "help")


def test_sentences_carry_the_numbers():
    rnn = helo.MinRNN.random(4, 3, seed=0, scale=0.5)
    losses = helo.train_adagrad(rnn, HELLO_IN, HELLO_OUT, 300, learning_rate=0.1)
    sentence = helo.training_sentence(losses, rnn, CHARS, "hello")
    assert _numbers(sentence) == [4, round(losses[0], 3), round(losses[-1], 4), 300]
    probs = helo.softmax(rnn.scores(HELLO_IN))  # (T, V)
    said = helo.confidence_sentence(probs, CHARS, "hell", "ello")
    correct = [probs[t, j] for t, j in enumerate(HELLO_OUT)]  # P(e | h), P(l | e), P(l | l), P(o | l)
    assert _numbers(said) == [round(p, 2) for p in correct] + [round(min(correct), 2)]
    assert 3e-8 in [float(w.rstrip(":;,.")) for w in helo.step_sentence(3e-8, "hello").split() if "e-" in w]
    assert len(helo.numpy_loss_figure(losses).axes[0].lines) == 1


def test_sample_sentence():
    assert helo.sample_sentence("hello", "hello") != helo.sample_sentence("hellll", "hello")
    assert repr("hellll") in helo.sample_sentence("hellll", "hello")  # the sample itself is shown
