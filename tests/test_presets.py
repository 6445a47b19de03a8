"""Preset TOML mistakes: each is one line naming the file, the table and the setting, raised where the preset is
read (charlm.paper.presets.load), never a TypeError or UnboundLocalError later in a notebook."""

import re
from pathlib import Path

import pytest

from charlm.errors import CharlmError
from charlm.paper import presets

SHIPPED = (presets.PRESETS_DIR / "01_helo.toml").read_text(encoding="utf-8")


def _cpu_table(text: str) -> tuple[int, int]:
    """Where the [cpu] profile's lines are in a shipped preset: [cpu] up to [paper]."""
    return text.index("\n[cpu]\n"), text.index("\n[paper]\n")


def _with(tmp_path: Path, monkeypatch, old: str, new: str) -> str:
    """Load 01_helo's cpu preset from a copy where the cpu profile's ``old`` line reads ``new``; the one-line error."""
    start, end = _cpu_table(SHIPPED)
    cpu = SHIPPED[start:end]
    assert old in cpu, old
    (tmp_path / "01_helo.toml").write_text(SHIPPED[:start] + cpu.replace(old, new, 1) + SHIPPED[end:])
    monkeypatch.setattr(presets, "PRESETS_DIR", tmp_path)
    with pytest.raises(CharlmError) as caught:
        presets.load("01_helo", "cpu")
    message = str(caught.value)
    assert "\n" not in message
    presets.load("01_helo", "smoke")  # the other profiles of the same file are not blamed
    return message


def test_the_unchanged_copy_loads(tmp_path, monkeypatch):
    shipped = presets.load("01_helo", "cpu")
    (tmp_path / "01_helo.toml").write_text(SHIPPED)
    monkeypatch.setattr(presets, "PRESETS_DIR", tmp_path)
    assert presets.load("01_helo", "cpu") == shipped


@pytest.mark.parametrize("old, new, expected", [
    # An unknown model key used to be ModelConfig's TypeError, raised only when the notebook built the model.
    ("rnn_size = 3", "rnn_sise = 3",
     r"01_helo.toml \[cpu.model\]: unknown model setting\(s\) 'rnn_sise'; valid: dropout, embedding_size"),
    ("optimizer = \"adam\"", "optimizer = \"sgd\"",
     r"01_helo.toml \[cpu.train\]: unknown optimizer 'sgd'; choose one of adam, rmsprop"),
    ("max_iters = 300", "max_iters = -3", r"01_helo.toml \[cpu.train\]: max_iters .* is -3; it must be at least 1"),
    ("threads = 1", 'threads = "x"', r"01_helo.toml \[cpu\]: threads .*must be a whole number, not 'x'"),
    # 0 used to mean "torch's default" without a word; leaving the key out says that.
    ("threads = 1", "threads = 0", r"01_helo.toml \[cpu\]: threads .*is 0; it must be at least 1"),
    # A renamed table is an unknown key of its profile, and the table it replaced is missing.
    ("[cpu.model]", "[cpu.modell]", r"unknown key\(s\) in 01_helo.toml \[cpu\]: 'modell'; valid: datasets, extra"),
    ("[cpu.train]\n", "[cpu.training]\n", r"unknown key\(s\) in 01_helo.toml \[cpu\]: 'training'"),
    # An empty list used to reach load_corpus's loop and fail there with UnboundLocalError.
    ('datasets = ["helo"]', "datasets = []", r"01_helo.toml \[cpu\]: datasets = \[\]; give a list of at least one"),
    ('datasets = ["helo"]', 'datasets = ["hello"]', r"01_helo.toml \[cpu\]: unknown data set\(s\) 'hello'; known: "),
    ('datasets = ["helo"]', 'datasets = "helo"', r"01_helo.toml \[cpu\]: datasets = 'helo'; give a list"),
    ("fractions = [1.0, 0.0, 0.0]", "fractions = [0.9, 0.1]", r"fractions = \[0.9, 0.1\]; give three numbers"),
    ("fractions = [1.0, 0.0, 0.0]", "fractions = [0.9, 0.1, 0.1]", r"sum to 1.1; they must sum to at most 1"),
    ("temperatures = [0.2, 0.5, 1.0, 1.5]", "temperatures = [0.2, 0]", r"temperatures .*is 0; it must be above 0"),
    ("sample_length = 4", "sample_length = 4.5", r"sample_length .*must be a whole number, not 4.5"),
    ('prime = ""', "prime = 3", r"prime = 3; it must be a string"),
    ("rnn_size = 3", "rnn_size = 3\nvocab_size = 4", r"\[cpu\]: model.vocab_size is the text's, not a setting"),
])
def test_a_preset_mistake_is_one_line(tmp_path, monkeypatch, old, new, expected):
    assert re.search(expected, _with(tmp_path, monkeypatch, old, new))


def test_a_missing_profile_table_and_broken_toml(tmp_path, monkeypatch):
    monkeypatch.setattr(presets, "PRESETS_DIR", tmp_path)
    (tmp_path / "01_helo.toml").write_text(SHIPPED.replace("[cpu]", "[cpuu]").replace("[cpu.", "[cpuu."))
    with pytest.raises(CharlmError, match=r"^01_helo.toml has no \[cpu\] table \(it has 'smoke', 'cpuu', 'paper'\); "
                                          r"each preset file spells out \[smoke\], \[cpu\], \[paper\]$"):
        presets.load("01_helo", "cpu")
    (tmp_path / "01_helo.toml").write_text(SHIPPED.replace("threads = 1", "threads = ", 1))
    with pytest.raises(CharlmError, match=r"^cannot read .*01_helo.toml \(Invalid value \(at line \d+, column \d+\)\); "
                                          r"fix the file or restore it from git$"):
        presets.load("01_helo", "smoke")


def test_every_shipped_preset_passes_its_checks():
    loaded = [presets.load(s, p) for s in presets.sections() for p in presets.PROFILES]
    assert len(loaded) == len(presets.sections()) * 3 and all(p.datasets for p in loaded)


def test_every_preset_pins_its_precision():
    """"auto" trains in bf16 on a CPU with bf16 units and in fp32 elsewhere: the same preset would give different
    numbers on different machines. Every profile's training (and 10's grid) names its precision."""
    from charlm.device import PRECISIONS

    for section in presets.sections():
        for profile in presets.PROFILES:
            p = presets.load(section, profile)
            for table in [p.train, *([p.extra["grid_train"]] if "grid_train" in p.extra else [])]:
                assert table.get("precision") in set(PRECISIONS) - {"auto"}, (section, profile)


def test_09_repeats_the_data_model_and_training_of_08_whose_run_it_loads():
    for profile in presets.PROFILES:
        evolution, neurons = presets.load("08_evolution", profile), presets.load("09_neurons", profile)
        for key in ("datasets", "max_chars", "fractions", "split", "split_note", "model", "train"):
            assert getattr(neurons, key) == getattr(evolution, key), (profile, key)
