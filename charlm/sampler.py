"""Sampling: temperature, top-k, priming, seeds, several samples at once, and a streaming generator."""

from __future__ import annotations

from typing import Iterator

import torch

from charlm.errors import check_float, check_int
from charlm.model import CharRNN, State
from charlm.vocab import Vocab


def _warm_up(model: CharRNN, vocab: Vocab, prime: str, num_samples: int, generator: torch.Generator,
             device: torch.device) -> tuple[torch.Tensor, State | None]:
    """Logits for the first new character and the state after reading the prime."""
    if not prime and "\n" in vocab:
        # With no prime, start as if at the beginning of a line, and do not print that newline.
        prime_ids = torch.tensor(vocab.encode("\n"), device=device)
    elif prime:
        prime_ids = torch.from_numpy(vocab.encode(prime, what="the prime text")).to(device)
    else:
        # char-rnn's choice when there is nothing to condition on: a uniform first character.
        return torch.zeros(num_samples, len(vocab), device=device), None
    idx = prime_ids.expand(num_samples, -1)  # (N, P)
    logits, _, state = model(idx)
    return logits[:, -1].float(), state  # (N, V)


def _pick(logits: torch.Tensor, temperature: float, top_k: int | None, generator: torch.Generator) -> torch.Tensor:
    """Next character ids (N,) from logits (N, V)."""
    if temperature <= 0:
        return logits.argmax(dim=-1)  # temperature -> 0 is argmax: the post's "infinite loop about startups"
    scaled = logits / temperature
    if not torch.isfinite(scaled).all():
        # A temperature so small (3.8e-288, found by tests/test_validation.py) that the division overflows, or that
        # float32 holds as 0: sampling at it is taking the likeliest character, the limit as temperature -> 0.
        return logits.argmax(dim=-1)
    logits = scaled
    if top_k is not None and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = torch.softmax(logits, dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


def check_sample_args(length: int, temperature: float, top_k: int | None = None, num_samples: int = 1,
                      seed: int | None = None) -> tuple[int, float, int | None, int, int | None]:
    """The one check of sampling arguments (the CLI, the API and the notebooks all sample through ``stream``):
    the arguments as sampling uses them (40.0 becomes 40), or a CharlmError."""
    return (check_int("length", length, 0),
            check_float("temperature", temperature, 0.0),  # 0 is argmax; a negative temperature means nothing
            None if top_k is None else check_int("top_k", top_k, 1),
            check_int("num_samples", num_samples, 1),
            None if seed is None else check_int("seed", seed, 0, 2**63 - 1))


def stream(model: CharRNN, vocab: Vocab, length: int = 2000, temperature: float = 1.0, prime: str = "",
           seed: int | None = None, top_k: int | None = None, num_samples: int = 1) -> Iterator[list[str]]:
    """Yield, for each new position, the characters of all ``num_samples`` samples (a list of N strings).

    Arguments are checked here, before the first character, so a bad prime fails before anything is printed.
    """
    length, temperature, top_k, num_samples, seed = check_sample_args(length, temperature, top_k, num_samples, seed)
    vocab.encode(prime, what="the prime text")
    return _generate(model, vocab, length, temperature, prime, seed, top_k, num_samples)


@torch.inference_mode()
def _generate(model: CharRNN, vocab: Vocab, length: int, temperature: float, prime: str, seed: int | None,
              top_k: int | None, num_samples: int) -> Iterator[list[str]]:
    device = next(model.parameters()).device
    generator = torch.Generator(device=device)
    generator.manual_seed(seed if seed is not None else int(torch.randint(0, 2**62, ()).item()))
    was_training = model.training
    model.eval()
    try:
        logits, state = _warm_up(model, vocab, prime, num_samples, generator, device)
        for _ in range(length):
            ids = _pick(logits, temperature, top_k, generator)  # (N,)
            yield [vocab.chars[i] for i in ids.tolist()]
            logits, state = model.step(ids, state)
            logits = logits.float()
    finally:
        model.train(was_training)


def sample(model: CharRNN, vocab: Vocab, length: int = 2000, temperature: float = 1.0, prime: str = "",
           seed: int | None = None, top_k: int | None = None, num_samples: int = 1,
           include_prime: bool = True) -> list[str]:
    """``num_samples`` texts of ``length`` new characters each, prefixed by the prime unless told not to."""
    columns = list(stream(model, vocab, length, temperature, prime, seed, top_k, num_samples))  # (length, N)
    head = prime if include_prime else ""
    return [head + "".join(chars) for chars in zip(*columns)] if columns else [head] * int(num_samples)
