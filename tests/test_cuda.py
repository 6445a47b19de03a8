"""What only a GPU can show; skipped without CUDA, run by `make gpu-check` (benchmarks/gpu_check.py)."""

import pytest
import torch

from charlm.checkpoint import load_checkpoint
from charlm.errors import CharlmError
from charlm.run import train
from charlm.trainer import TrainConfig, evaluate
from helpers import make_text

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA: run by make gpu-check")]

MODEL = {"rnn_size": 128, "num_layers": 2, "dropout": 0.0}


def config(**kw) -> TrainConfig:
    return TrainConfig(**{**dict(batch_size=16, seq_length=50, max_iters=100, eval_interval=50, seed=4,
                                 device="cuda"), **kw})


@pytest.mark.parametrize("precision, resolved", [("auto", "fp32"), ("tf32", "tf32"), ("bf16", "bf16"), ("fp16", "fp16")])
def test_each_precision_trains_and_keeps_float32_state(tmp_path, precision, resolved):
    text = make_text(100_000)
    run = train(text, tmp_path / "run", MODEL, config(precision=precision), progress="none")
    assert run.state.train_losses[-1] < run.state.train_losses[0] - 0.5
    saved = torch.load(tmp_path / "run" / "last" / "trainer.pt", weights_only=True, map_location="cpu")
    assert {t.dtype for t in saved["carried"]} == {torch.float32}
    assert load_checkpoint(tmp_path / "run").info.precision == resolved
    if precision in ("bf16", "fp16"):  # cuDNN's LSTM runs both in fp16: the GradScaler ran, its state resumes
        assert saved["scaler"]["scale"] > 0


def test_evaluation_is_the_same_on_gpu_and_cpu(tmp_path):
    text = make_text(100_000)
    run = train(text, tmp_path / "run", MODEL, config(precision="bf16"), progress="none")
    on_gpu = evaluate(run.model, run.splits.parts["val"], 16, 50)
    on_cpu = evaluate(load_checkpoint(tmp_path / "run", device="cpu").model, run.splits.parts["val"], 16, 50)
    assert on_gpu == pytest.approx(on_cpu, abs=1e-4)


def test_a_cuda_run_resumes_on_cpu(tmp_path):
    text = make_text(100_000)
    train(text, tmp_path / "run", MODEL, config(precision="fp16"), progress="none")
    with pytest.raises(CharlmError, match="fp16 needs a GPU.*--precision"):
        train(text, tmp_path / "run", resume=True, overrides={"max_iters": 120, "device": "cpu"}, progress="none")
    resumed = train(text, tmp_path / "run", resume=True, overrides={"max_iters": 120, "device": "cpu", "precision": "fp32"},
                    progress="none")
    assert resumed.state.iteration == 120


def test_resume_is_bit_identical_on_cuda_without_dropout(tmp_path):
    text = make_text(100_000)
    whole = train(text, tmp_path / "whole", MODEL, config(precision="fp32"), progress="none")
    train(text, tmp_path / "part", MODEL, config(precision="fp32", max_iters=50), progress="none")
    resumed = train(text, tmp_path / "part", resume=True, overrides={"max_iters": 100}, progress="none")
    assert resumed.state.train_losses == whole.state.train_losses
