"""Property tests over the argument space: any value of any setting gives a valid config or a CharlmError,
never another exception (issue 9, case 8). The checks live in the dataclasses, so the CLI, the Python API and
the notebooks share them; a few examples go through the real CLI to show it."""

import dataclasses
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from charlm.data import eval_batcher
from charlm.errors import CharlmError
from charlm.model import CharRNN, ModelConfig
from charlm.sampler import check_sample_args, sample
from charlm.trainer import TrainConfig
from charlm.vocab import Vocab

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}

# Anything a user, a JSON file or a notebook could hand over for a number.
ANY_NUMBER = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, -1, 1, 0.0, -0.0, 32.5, True, None, "3", [], math.nan, math.inf, -math.inf]),
)
# Every setting but the named ones (device) and those with a list of choices (optimizer, precision, clip mode).
TRAIN_NUMERIC = [f.name for f in dataclasses.fields(TrainConfig) if f.name != "device" and "choices" not in f.metadata]
UNSET_ALLOWED = ("max_iters", "max_seconds", "forget_bias")  # None: no such limit, or keep the initialiser's bias
MODEL_NUMERIC = ["rnn_size", "num_layers", "dropout", "embedding_size", "vocab_size"]


def _builds_or_charlm_error(build) -> object | None:
    try:
        return build()
    except CharlmError as err:
        assert "\n" not in str(err) and str(err)
        return None


@settings(max_examples=400, deadline=None)
@given(name=st.sampled_from(TRAIN_NUMERIC), value=ANY_NUMBER)
def test_any_training_setting_gives_a_valid_config_or_a_charlm_error(name, value):
    config = _builds_or_charlm_error(lambda: TrainConfig(**{name: value}))
    if config is not None:
        number = getattr(config, name)
        if number is None:
            assert name in UNSET_ALLOWED and value is None
            return
        assert isinstance(number, (int, float)) and not isinstance(number, bool) and math.isfinite(number)
        assert config.batch_size >= 1 and config.seq_length >= 1 and config.eval_interval >= 1
        assert config.learning_rate > 0 and config.grad_clip >= 0
        assert any(getattr(config, k) is not None for k in ("max_epochs", "max_iters", "max_seconds"))


@settings(max_examples=300, deadline=None)
@given(name=st.sampled_from(MODEL_NUMERIC), value=ANY_NUMBER)
def test_any_model_setting_gives_a_model_or_a_charlm_error(name, value):
    values = {"vocab_size": 5, "rnn_size": 4, "num_layers": 1, name: value}
    config = _builds_or_charlm_error(lambda: ModelConfig(**values))
    if config is not None and config.rnn_size <= 64 and config.num_layers <= 4 and config.embedding_size <= 64 \
            and config.vocab_size <= 1000:
        CharRNN(config)  # a config that validates builds a model


@pytest.fixture(scope="module")
def tiny_model():
    vocab = Vocab.from_text("abc\n")
    return CharRNN(ModelConfig(vocab_size=len(vocab), rnn_size=4, num_layers=1)), vocab


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(length=ANY_NUMBER, temperature=ANY_NUMBER, top_k=ANY_NUMBER, num_samples=ANY_NUMBER)
def test_any_sampling_arguments_sample_or_give_a_charlm_error(tiny_model, length, temperature, top_k, num_samples):
    model, vocab = tiny_model
    try:
        check_sample_args(length, temperature, top_k, num_samples)
    except CharlmError:
        return
    if length <= 50 and num_samples <= 4:
        texts = sample(model, vocab, length, temperature, "a", 0, top_k, num_samples)
        assert len(texts) == num_samples and all(len(t) == 1 + length for t in texts)


@settings(max_examples=200, deadline=None)
@given(n=st.integers(0, 400), batch_size=ANY_NUMBER, seq_length=ANY_NUMBER)
def test_eval_batches_cover_every_character_or_give_a_charlm_error(n, batch_size, seq_length):
    batches = _builds_or_charlm_error(lambda: eval_batcher(np.arange(n), batch_size, seq_length))
    if batches is not None:
        targets = np.concatenate([yb.reshape(-1).numpy() for _, yb in batches])
        assert sorted(targets.tolist()) == list(range(1, n))  # each character after the first, once


@pytest.mark.parametrize("option, value", [("--learning-rate", "inf"), ("--dropout", "nan")])
def test_cli_shares_the_checks(tmp_path, option, value):
    corpus = tmp_path / "input.txt"
    corpus.write_text("hello world\n" * 200)
    proc = subprocess.run([sys.executable, "-m", "charlm", "train", str(corpus), "--out", str(tmp_path / "run"),
                           option, value], capture_output=True, text=True, env=ENV, timeout=120)
    assert proc.returncode == 1 and proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1, proc.stderr
    assert option.lstrip("-").replace("-", "_") in proc.stderr
    assert not (tmp_path / "run").exists()


def test_whole_float_sampling_arguments_are_used_as_ints(tiny_model):
    """Found by the property test above: length=0.0 passed the check and then crashed range()."""
    model, vocab = tiny_model
    assert sample(model, vocab, 0.0, 0, "a", 0, 1.0, 2.0) == ["a", "a"]
    assert [len(t) for t in sample(model, vocab, 3.0, 1.0, "a", 0.0)] == [4]


# Anything a hand edit of config.json can leave at a key: JSON's values, nested one level.
ANY_JSON = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.floats(), st.text(max_size=5)),
                        lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner,
                                                                                              max_size=3)),
                        max_leaves=6)
VALID_RECORD = {"model": {"vocab_size": 3, "model": "lstm", "rnn_size": 4, "num_layers": 1, "dropout": 0.0,
                          "embedding_size": 0}, "vocab": ["a", "b", "c"], "train_config": {"batch_size": 4},
                "data": {"sha256": "0" * 64, "chars": 10, "split": {"kind": "striped", "fractions": [0.8, 0.1, 0.1],
                                                                     "rows": 2, "chunk": 3}, "source": None},
                "iteration": 3, "best_iteration": 2, "best_val_loss": 1.5, "precision": "fp32", "world_size": 1}


@settings(max_examples=400, deadline=None)
@given(key=st.sampled_from([*VALID_RECORD, "val_loss", "epoch", "device", "stop_reason", "data.split",
                            "data.chars", "data.sha256", "train_config.precision", "model.rnn_size"]),
       value=ANY_JSON)
def test_any_edit_of_a_run_record_gives_a_record_or_a_charlm_error(key, value):
    import copy

    from charlm.config import RunInfo

    raw = copy.deepcopy(VALID_RECORD)
    outer, _, inner = key.partition(".")
    if inner:
        raw[outer][inner] = value
    else:
        raw[outer] = value
    info = _builds_or_charlm_error(lambda: RunInfo.from_json(raw))
    if info is not None:
        assert RunInfo.from_json(info.to_json()) == info or info.to_json() != info.to_json()  # NaN is not equal to itself
