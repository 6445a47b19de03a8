"""Training on real text, exact resume, divergence, and checkpoints that fail clearly."""

import json
import math
import shutil

import pytest
import torch

from charlm.checkpoint import find_checkpoint, load_checkpoint
from charlm.errors import CharlmError
from charlm.run import train
from charlm.trainer import Callback, TrainConfig
from helpers import make_text, mirror_text

SMALL = {"model": "lstm", "rnn_size": 32, "num_layers": 2, "dropout": 0.1}


def config(**kw) -> TrainConfig:
    base = dict(batch_size=8, seq_length=20, max_iters=40, eval_interval=20, learning_rate=5e-3, seed=7)
    return TrainConfig(**{**base, **kw})


def unigram_entropy(text: str) -> float:
    counts = {}
    for ch in text:
        counts[ch] = counts.get(ch, 0) + 1
    n = len(text)
    return -sum(c / n * math.log(c / n) for c in counts.values())


def test_loss_falls_on_real_text(tmp_path):
    text = mirror_text("tinyshakespeare.txt.xz")[:300_000]
    result = train(text, tmp_path / "run", {"model": "lstm", "rnn_size": 64, "num_layers": 1},
                   TrainConfig(batch_size=32, seq_length=50, max_iters=300, eval_interval=100, seed=1),
                   progress="none")
    vals = [v for _, v in result.state.val_losses]
    assert len(vals) == 3 and vals[0] > vals[-1]
    # Well below the unigram entropy: the model learned context, not only letter frequencies.
    assert vals[-1] < unigram_entropy(text) - 0.6, vals
    assert result.test_loss() < unigram_entropy(text) - 0.5


def test_resume_gives_the_same_loss_curve(tmp_path):
    # On the CPU: with dropout between layers, cuDNN keeps its own dropout state that no RNG restore reaches, so
    # this 2-layer dropout run resumes exactly only off CUDA (tests/test_cuda.py covers the CUDA cases that can).
    text = make_text(40_000)
    straight = train(text, tmp_path / "a", SMALL, config(max_iters=40, device="cpu"), progress="none")
    train(text, tmp_path / "b", SMALL, config(max_iters=20, device="cpu"), progress="none")
    resumed = train(text, tmp_path / "b", resume=True, overrides={"max_iters": 40}, progress="none")
    assert resumed.state.iteration == 40
    # Bit-for-bit: weights, optimizer, dropout RNG, batch position and the carried hidden state all resume.
    assert resumed.state.train_losses == straight.state.train_losses
    assert resumed.state.val_losses == straight.state.val_losses
    lines = [json.loads(l) for l in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert [l["iteration"] for l in lines if l["event"] == "val"] == [20, 40]


def test_resume_refuses_other_text_and_fresh_run_refuses_used_dir(tmp_path):
    text = make_text(20_000)
    train(text, tmp_path / "run", SMALL, config(max_iters=5), progress="none")
    with pytest.raises(CharlmError, match="already holds a training run.*--resume"):
        train(text, tmp_path / "run", SMALL, config(max_iters=5), progress="none")
    with pytest.raises(CharlmError, match="different text"):
        train(make_text(20_000, seed=9), tmp_path / "run", resume=True, progress="none")


class PoisonAt(Callback):
    """Turn the weights to NaN after a given iteration, as a bad learning rate eventually would."""

    def __init__(self, iteration: int) -> None:
        self.iteration = iteration

    def on_step_end(self, trainer) -> None:
        if trainer.state.iteration == self.iteration:
            with torch.no_grad():
                for p in trainer.model.parameters():
                    p.fill_(float("nan"))


def test_nan_loss_stops_with_clear_error_and_keeps_last_good_checkpoint(tmp_path):
    text = make_text(30_000)
    with pytest.raises(CharlmError, match=r"loss is NaN at iteration 26.*last checkpoint is kept"):
        train(text, tmp_path / "run", SMALL, config(max_iters=100), callbacks=[PoisonAt(25)], progress="none")
    ckpt = load_checkpoint(tmp_path / "run", prefer="last")
    assert ckpt.info.iteration == 20
    assert all(torch.isfinite(p).all() for p in ckpt.model.parameters())


def test_request_stop_saves_a_resumable_checkpoint(tmp_path):
    class StopAt(Callback):
        def on_step_end(self, trainer):
            if trainer.state.iteration == 13:
                trainer.request_stop("interrupted")

    text = make_text(30_000)
    stopped = train(text, tmp_path / "run", SMALL, config(max_iters=40), callbacks=[StopAt()], progress="none")
    assert stopped.state.stop_reason == "interrupted" and stopped.state.iteration == 13
    assert load_checkpoint(tmp_path / "run", prefer="last").info.iteration == 13
    resumed = train(text, tmp_path / "run", resume=True, progress="none")
    assert resumed.state.iteration == 40


def test_checkpoint_rebuilds_model_alone_and_fails_clearly_when_damaged(tmp_path):
    text = make_text(20_000)
    result = train(text, tmp_path / "run", SMALL, config(max_iters=20), progress="none")
    ckpt = load_checkpoint(tmp_path / "run")
    assert ckpt.model.config == result.model.config and ckpt.vocab == result.vocab
    idx = torch.randint(0, len(ckpt.vocab), (2, 10))
    on = next(ckpt.model.parameters()).device  # both the trained and the reloaded model are on the run's device
    torch.testing.assert_close(ckpt.model(idx.to(on))[0], result.model.eval()(idx.to(on))[0])

    broken = tmp_path / "broken"
    shutil.copytree(tmp_path / "run" / "best", broken)
    weights = broken / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(CharlmError, match="corrupt"):
        load_checkpoint(broken)
    (broken / "config.json").write_text('{"name": "some other tool"}')
    with pytest.raises(CharlmError, match="not a charlm checkpoint"):
        load_checkpoint(broken)
    (broken / "config.json").write_text("{ truncated")
    with pytest.raises(CharlmError, match="corrupt"):
        load_checkpoint(broken)
    with pytest.raises(CharlmError, match="no charlm checkpoint"):
        load_checkpoint(tmp_path)
    if not torch.cuda.is_available():
        with pytest.raises(CharlmError, match="CUDA is not available.*--device cpu"):
            load_checkpoint(tmp_path / "run", device="cuda")


def test_checkpoint_survives_a_crash_between_renames(tmp_path):
    text = make_text(20_000)
    train(text, tmp_path / "run", SMALL, config(max_iters=20), progress="none")
    run = tmp_path / "run"
    (run / "last").rename(run / "last.old")  # the state a crash between the two renames leaves
    (run / "last.tmp").mkdir()  # and a half-written staging directory
    assert find_checkpoint(run, prefer="last") == run / "last.old"
    assert load_checkpoint(run, prefer="last").info.iteration == 20


def test_checkpoint_written_on_gpu_loads_and_resumes_on_cpu(tmp_path):
    """A trainer.pt whose tensors are stored as cuda:0 ones (torch.save records each storage's device; a tagger
    registered for the save writes the tag a GPU run's file has): torch.load refuses it on a machine without
    CUDA, charlm maps it to the CPU, and the run resumes there."""
    text = make_text(20_000)
    run = tmp_path / "run"
    train(text, run, SMALL, config(max_iters=20), progress="none")
    trainer_file = run / "last" / "trainer.pt"
    saved = torch.load(trainer_file, weights_only=True)

    def as_cuda(storage):
        return "cuda:0" if storage.device.type == "cpu" else None

    torch.serialization.register_package(0, as_cuda, lambda storage, location: None)
    try:
        torch.save(saved, trainer_file)
    finally:
        registry = torch.serialization._package_registry
        registry[:] = [entry for entry in registry if entry[1] is not as_cuda]
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA"):
            torch.load(trainer_file, weights_only=True)  # the file really claims a GPU
    for name in ("last", "best"):
        cfg_file = run / name / "config.json"
        cfg_file.write_text(json.dumps({**json.loads(cfg_file.read_text()), "device": "cuda:0"}))
    ckpt = load_checkpoint(run, device="cpu", prefer="last", with_trainer_state=True)
    assert next(ckpt.model.parameters()).device.type == "cpu" and ckpt.info.device == "cuda:0"
    assert {t.device.type for t in ckpt.trainer_state["carried"]} == {"cpu"}
    resumed = train(text, run, resume=True, overrides={"max_iters": 30, "device": "cpu"}, progress="none")
    assert resumed.state.iteration == 30 and len(resumed.state.train_losses) == 30


def test_learning_rate_schedule_follows_char_rnn():
    from charlm.trainer import learning_rate_at

    cfg = TrainConfig(learning_rate=1.0, learning_rate_decay=0.5, learning_rate_decay_after=2, max_iters=1)
    assert [learning_rate_at(cfg, e) for e in range(5)] == [1.0, 1.0, 0.5, 0.25, 0.125]


def test_rmsprop_and_gru_train(tmp_path):
    text = make_text(20_000)
    result = train(text, None, {"model": "gru", "rnn_size": 32, "num_layers": 1},
                   config(optimizer="rmsprop", max_iters=60, eval_interval=30), progress="none")
    first, last = result.state.val_losses[0][1], result.state.val_losses[-1][1]
    assert last < first


def test_a_limit_given_on_resume_replaces_the_runs_limits(tmp_path):
    text = make_text(40_000)
    first = train(text, tmp_path / "run", SMALL, config(max_iters=20), progress="none")
    per_epoch = len(first.splits.parts["train"]) // (8 * 20)
    resumed = train(text, tmp_path / "run", resume=True, overrides={"max_epochs": 0.2}, progress="none")
    assert resumed.train_config.max_iters is None
    assert resumed.state.iteration == math.ceil(0.2 * per_epoch) > 20


def test_an_evaluation_between_loss_reads_never_checkpoints_a_diverged_model(tmp_path):
    """Losses reach the host every log_interval steps; an evaluation due in between (eval 25, log 10) reads them
    first, so the NaN of iteration 22 stops training before NaN weights are validated or saved."""
    text = make_text(30_000)
    with pytest.raises(CharlmError, match=r"loss is NaN at iteration 22"):
        train(text, tmp_path / "run", SMALL, config(max_iters=100, eval_interval=25, log_interval=10),
              callbacks=[PoisonAt(21)], progress="none")
    assert not (tmp_path / "run" / "last").exists()  # nothing was saved: no evaluation came before the NaN


# --------------------------------------------------------------------------- char-rnn's recipe as options


def test_init_range_draws_every_initial_weight_from_its_interval_and_forget_bias_sets_the_gate():
    from charlm.model import ModelConfig
    from charlm.run import initial_model

    model_config = ModelConfig(vocab_size=30, model="lstm", rnn_size=16, num_layers=2)
    default = initial_model(model_config, config())  # PyTorch's: uniform +-1/sqrt(16) for the LSTM
    charrnn = initial_model(model_config, config(init_range=0.08, forget_bias=1.0))
    largest = lambda m, skip=(): max(p.abs().max().item() for n, p in m.named_parameters() if n not in skip)  # noqa: E731
    assert largest(default) > 0.2
    biases = {f"rnn.bias_ih_l{k}" for k in range(2)}
    assert 0.079 < largest(charrnn, skip=biases) <= 0.08  # every other parameter drawn from +-0.08, edges reached
    for k in range(2):
        bias = getattr(charrnn.rnn, f"bias_ih_l{k}").detach()
        assert torch.equal(bias[16:32], torch.ones(16)) and bias[:16].abs().max() <= 0.08  # gates: i, f, g, o


def test_a_new_run_starts_from_the_initial_weights_its_options_ask_for(tmp_path):
    from charlm.run import initial_model

    text = make_text(20_000)
    cfg = config(max_iters=1, init_range=0.08, learning_rate=1e-9, eval_interval=1)
    run = train(text, tmp_path / "run", SMALL, cfg, progress="none")
    drawn = initial_model(run.model.config, cfg)
    for (name, p), q in zip(run.model.named_parameters(), drawn.parameters()):
        torch.testing.assert_close(p.detach().cpu(), q.detach(), atol=1e-7, rtol=0, msg=name)  # one step of 1e-9
    assert load_checkpoint(tmp_path / "run").info.train_config.init_range == 0.08


@pytest.mark.parametrize("mode", ["value", "norm"])
def test_grad_clip_mode_clamps_elements_or_scales_the_norm(mode):
    from charlm.model import CharRNN, ModelConfig
    from charlm.trainer import Trainer
    from charlm.vocab import Vocab

    text = make_text(5_000)
    vocab = Vocab.from_text(text)
    torch.manual_seed(0)
    model = CharRNN(ModelConfig(len(vocab), "lstm", 16, 1))
    trainer = Trainer(model, vocab, {"train": vocab.encode(text)}, config(grad_clip=0.01, grad_clip_mode=mode),
                      device=torch.device("cpu"), precision="fp32")
    trainer.train_step()
    grads = torch.cat([p.grad.reshape(-1) for p in model.parameters()])
    if mode == "value":  # char-rnn: grad_params:clamp(-grad_clip, grad_clip)
        assert grads.abs().max().item() == pytest.approx(0.01) and (grads.abs() >= 0.01 - 1e-9).sum() > 10
        assert grads.norm().item() > 0.05  # each element clamped, the norm left far above the limit
    else:
        assert grads.norm().item() == pytest.approx(0.01, rel=1e-4) and grads.abs().max().item() < 0.01


def test_rmsprop_smoothing_is_decay_rate_as_char_rnn_computes_it():
    """One RMSProp step from zero state, char-rnn's optim.rmsprop: m = (1 - alpha) g^2; x -= lr g / (sqrt(m) + 1e-8)."""
    from charlm.model import CharRNN, ModelConfig
    from charlm.trainer import Trainer
    from charlm.vocab import Vocab

    text = make_text(5_000)
    vocab = Vocab.from_text(text)
    torch.manual_seed(0)
    model = CharRNN(ModelConfig(len(vocab), "lstm", 16, 1))
    before = model.head.weight.detach().clone()
    cfg = config(optimizer="rmsprop", decay_rate=0.5, learning_rate=1e-3, grad_clip=0)
    trainer = Trainer(model, vocab, {"train": vocab.encode(text)}, cfg, device=torch.device("cpu"), precision="fp32")
    assert trainer.optimizer.param_groups[0]["alpha"] == 0.5
    trainer.train_step()
    g = model.head.weight.grad
    expected = before - 1e-3 * g / ((1 - 0.5) * g * g).sqrt().add(1e-8)
    torch.testing.assert_close(model.head.weight.detach(), expected, atol=1e-7, rtol=1e-5)


def test_the_recipe_options_are_cli_flags_under_char_rnns_names():
    from charlm.cli import build_parser

    args = build_parser().parse_args(["train", "f.txt", "--out", "r", "--init-range", "0.08", "--forget-bias", "1",
                                      "--grad-clip-mode", "value", "--decay-rate", "0.9", "--grad-clip", "5"])
    assert (args.init_range, args.forget_bias, args.grad_clip_mode, args.decay_rate, args.grad_clip) == \
        (0.08, 1.0, "value", 0.9, 5.0)
    defaults = build_parser().parse_args(["train", "f.txt", "--out", "r"])
    assert (defaults.init_range, defaults.forget_bias, defaults.grad_clip_mode) == (0.0, None, "norm")


# --------------------------------------------------------------------------- model selection


class NoiseAt(Callback):
    """Shake the weights after one iteration, so that a later validation is worse than an earlier one."""

    def __init__(self, iteration: int, scale: float) -> None:
        self.iteration, self.scale = iteration, scale

    def on_step_end(self, trainer) -> None:
        if trainer.state.iteration == self.iteration:
            with torch.no_grad():
                generator = torch.Generator().manual_seed(0)
                for p in trainer.model.parameters():
                    p.add_(torch.randn(p.shape, generator=generator) * self.scale)


@pytest.mark.parametrize("to_disk", [True, False])
def test_the_test_loss_is_the_best_validation_checkpoints_and_says_which(tmp_path, to_disk):
    from charlm.trainer import evaluate

    text = make_text(40_000)
    out = tmp_path / "run" if to_disk else None
    result = train(text, out, SMALL, config(max_iters=40, eval_interval=10, learning_rate=1e-2),
                   callbacks=[NoiseAt(31, 0.3)], progress="none")
    losses = dict(result.state.val_losses)
    assert losses[40] > min(losses.values())  # the last weights are not the best ones
    assert result.best_iteration == min(losses, key=losses.get) < 40 and result.val_loss == min(losses.values())
    assert evaluate(result.model, result.splits.parts["val"], 8, 20) == pytest.approx(losses[result.best_iteration])
    test = result.test_loss()
    if to_disk:
        best = load_checkpoint(out, device="cpu")
        assert best.info.best_iteration == best.info.iteration == result.best_iteration
        assert test == pytest.approx(evaluate(best.model, result.splits.parts["test"], 8, 20))
        last = load_checkpoint(out, device="cpu", prefer="last").model
        assert test < evaluate(last, result.splits.parts["test"], 8, 20)
