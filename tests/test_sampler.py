import pytest
import torch

from charlm.errors import CharlmError
from charlm.run import train
from charlm.sampler import sample, stream
from charlm.trainer import TrainConfig


@pytest.fixture(scope="module")
def pattern_model():
    """A model that has learned a deterministic cycle, so its argmax continuation is known."""
    text = "abcdefgh" * 3000
    result = train(text, None, {"model": "lstm", "rnn_size": 32, "num_layers": 1},
                   TrainConfig(batch_size=16, seq_length=16, max_iters=200, learning_rate=4e-3, eval_interval=200),
                   progress="none")
    return result.model, result.vocab


def test_argmax_continues_the_learned_pattern(pattern_model):
    model, vocab = pattern_model
    assert sample(model, vocab, 16, temperature=0.0, prime="abc")[0] == "abc" + "defghabcdefghabc"
    assert sample(model, vocab, 8, top_k=1, prime="cdef", seed=5)[0] == "cdef" + "ghabcdef"


def test_same_seed_same_text_and_seeds_differ(pattern_model):
    model, vocab = pattern_model
    a = sample(model, vocab, 200, temperature=3.0, seed=11)
    assert a == sample(model, vocab, 200, temperature=3.0, seed=11)
    assert a != sample(model, vocab, 200, temperature=3.0, seed=12)


def test_parallel_samples_and_streaming(pattern_model):
    model, vocab = pattern_model
    texts = sample(model, vocab, 50, temperature=2.0, seed=3, num_samples=4, include_prime=False)
    assert len(texts) == 4 and all(len(t) == 50 for t in texts) and len(set(texts)) > 1
    chunks = list(stream(model, vocab, 10, temperature=0.0, prime="a"))
    assert len(chunks) == 10 and all(len(c) == 1 for c in chunks)
    assert "".join(c[0] for c in chunks) == "bcdefghabc"


def test_top_k_restricts_choices(pattern_model):
    model, vocab = pattern_model
    # With k=2 each step picks one of the two likeliest characters; at a huge temperature both appear.
    text = sample(model, vocab, 300, temperature=50.0, top_k=2, prime="a", seed=0, include_prime=False)[0]
    with torch.inference_mode():
        logits, _ = model.step(torch.tensor([vocab.index("a")], device=next(model.parameters()).device))
    top2 = {vocab.chars[i] for i in torch.topk(logits[0], 2).indices.tolist()}
    assert text[0] in top2


def test_prime_with_unseen_character_is_a_clear_error(pattern_model):
    model, vocab = pattern_model
    with pytest.raises(CharlmError, match=r"prime text contains 'z' \(U\+007A\) at position 1.*never saw"):
        stream(model, vocab, 10, prime="az")


def test_a_tiny_positive_temperature_samples_the_likeliest_character(pattern_model):
    """Found by the property test: logits / 3.8e-288 overflowed to inf and sampling raised on a NaN probability."""
    model, vocab = pattern_model
    for temperature in (3.8e-288, 1e-30):
        assert sample(model, vocab, 16, temperature=temperature, prime="abc", seed=1)[0] == \
            sample(model, vocab, 16, temperature=0.0, prime="abc")[0]
