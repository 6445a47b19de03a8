"""Section 07's measures on real names and hand-made lists: the learning-rate schedule of every profile at its last
iteration, alphabetical runs, and the quality of new names under an n-gram of the training names."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from charlm import datasets
from charlm.data import StreamBatcher, split_ids
from charlm.paper import notebook as nb
from charlm.paper import presets
from charlm.paper.claims import TOO_FEW
from charlm.paper.sections import names
from charlm.trainer import TrainConfig, learning_rate_at
from helpers import mirror_text

FLOOR = 1e-5  # issue 17: the names run's learning rate never falls below it


@pytest.fixture(scope="module")
def corpus() -> nb.Corpus:
    mirror_text("names.txt.xz")  # skips without the mirror
    return nb.load_corpus("names")


def _iters_per_epoch(corpus: nb.Corpus, cfg: TrainConfig) -> int:
    train = split_ids(np.zeros(len(corpus.text), dtype=np.uint8), corpus.split_spec.fractions)["train"]
    return len(StreamBatcher.from_ids(train, cfg.batch_size, cfg.seq_length))


def _last_rate(corpus: nb.Corpus, cfg: TrainConfig, last_iteration: int) -> float:
    """The rate the trainer uses for its last step (the step after ``last_iteration - 1`` steps)."""
    return learning_rate_at(cfg, (last_iteration - 1) // _iters_per_epoch(corpus, cfg))


@pytest.mark.parametrize("profile", presets.PROFILES)
def test_the_learning_rate_never_falls_below_the_floor(corpus, profile):
    p = presets.load("07_names", profile)
    cfg = p.train_config()
    per_epoch = _iters_per_epoch(corpus, cfg)
    limits = [cfg.max_iters, None if cfg.max_epochs is None else math.ceil(cfg.max_epochs * per_epoch)]
    limits = [n for n in limits if n is not None]
    assert limits, f"{profile}: only a time limit, so the last iteration (and its rate) depends on the machine"
    last = min(limits)
    assert _last_rate(corpus, cfg, last) >= FLOOR, (profile, last, per_epoch)
    # the rate only falls: no earlier step is below it
    assert min(learning_rate_at(cfg, e) for e in range((last - 1) // per_epoch + 1)) >= FLOOR


def test_the_old_cpu_schedule_froze(corpus):
    """What the floor test catches: the cpu preset before it (5 minutes, no epoch limit) took 12,469 iterations in
    the committed run, at 31 an epoch, and ended with a rate below 1e-6."""
    old = TrainConfig(batch_size=32, seq_length=50, learning_rate=2e-3, learning_rate_decay=0.97,
                      learning_rate_decay_after=10, max_seconds=300)
    assert _iters_per_epoch(corpus, old) == 31
    assert _last_rate(corpus, old, 12_469) < 1e-6


def test_same_first_letter_share_and_chance():
    assert names.same_first_letter_share(["Ann", "Abe", "Bob", "Ben", "Cy"]) == 0.5  # (Ann, Abe), (Bob, Ben) of 4
    assert names.same_first_letter_share(["Ann"]) is None
    assert names.first_letter_chance(["Ann", "Abe", "Bob"]) == pytest.approx((2 / 3) ** 2 + (1 / 3) ** 2)


def test_sorted_names_come_in_runs_and_shuffled_ones_do_not(corpus):
    training = [n for n in corpus.split("train").split("\n") if n]
    in_order = names.alphabetical_runs(sorted(training)[:2000], corpus).data
    assert in_order["in_runs"] and in_order["samples"] > 0.9
    # the corpus is shuffled before it is split: its training file is near chance, not in runs
    assert in_order["training"] < names.RUNS_FACTOR * in_order["chance"]
    drawn = random.Random(1).sample(training, 2000)
    at_random = names.alphabetical_runs(drawn, corpus).data
    assert not at_random["in_runs"] and at_random["samples"] == names.same_first_letter_share(drawn)


def test_new_names_are_judged_against_new_real_names(corpus):
    known = {n for n in corpus.split("train").split("\n") if n}
    held_out = [n for n in (corpus.split("val") + "\n" + corpus.split("test")).split("\n") if n and n not in known]
    # real names the model never saw, offered as samples: they cost exactly what the real ones cost
    real = names.name_quality(held_out, corpus)
    [claim] = real.claims
    assert real.data["sampled_new"] == real.data["real_new"] and (claim.value, claim.verdict) == (1.0, "held")
    assert claim.n == len(held_out) and real.data["shuffled"] > 1.5 * real.data["real_new"]
    # junk: the same names with their letters shuffled
    junk = names.name_quality(names.shuffled_letters(held_out, seed=0), corpus)
    [claim] = junk.claims
    assert junk.data["sampled_new"] > 1.5 * junk.data["real_new"]  # (a few shuffles spell a training name: left out)
    assert claim.value == pytest.approx(junk.data["sampled_new"] / junk.data["real_new"]) and claim.verdict == "not"
    # copies of training names are left out of the verdict
    copies = names.name_quality(sorted(known)[:500] + held_out[:100], corpus)
    assert copies.data["n_sampled_new"] == 100 and copies.claims[0].n == 100


@pytest.mark.parametrize("ratio, verdict", [(1.0, "held"), (names.QUALITY_HELD, "held"), (1.1001, "partly"),
                                            (names.QUALITY_PARTLY, "partly"), (1.2501, "not")])
def test_quality_rule_at_its_thresholds(ratio, verdict):
    quality = {"order": 5, "sampled_new": 2.0 * ratio, "real_new": 2.0, "shuffled": 4.3, "n_sampled_new": 200}
    claim = names.quality_claim(quality)
    assert (claim.verdict, claim.value) == (verdict, pytest.approx(ratio))
    few = names.quality_claim({**quality, "n_sampled_new": names.QUALITY_MIN_NAMES - 1})
    assert few.value is None and few.verdict == TOO_FEW
    assert names.quality_claim({**quality, "n_sampled_new": names.QUALITY_MIN_NAMES}).verdict == verdict
