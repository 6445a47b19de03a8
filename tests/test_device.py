"""Device, precision, threads and process-group choices, with fake machines where this one cannot show them."""

import pytest
import torch

from charlm.device import (PRECISIONS, autocast, choose_device, configure_threads, cpu_flags, cpu_has_native_bf16,
                           has_native_bf16, resolve_device, resolve_precision)
from charlm.errors import CharlmError
from charlm.model import CharRNN, ModelConfig
from charlm.run import train
from charlm.trainer import TrainConfig, evaluate
from helpers import make_text, mirror_text

SAPPHIRE_RAPIDS = "processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu sse avx512f amx_bf16 amx_tile avx512_bf16\n"
ZEN4 = "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu sse avx2 avx512f avx512_bf16\n"
SKYLAKE_X = "processor\t: 0\nflags\t\t: fpu sse avx2 avx512f avx512bw avx512vl\n"
GRAVITON2 = "processor\t: 0\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32\n"
CPU, CUDA, MPS = torch.device("cpu"), torch.device("cuda"), torch.device("mps")
needs_native_bf16 = pytest.mark.skipif(not cpu_has_native_bf16(), reason="this CPU has no native bf16 units "
                                       "(avx512_bf16/amx_bf16): bf16 is refused here")


@pytest.mark.parametrize("cpuinfo, native", [(SAPPHIRE_RAPIDS, True), (ZEN4, True), (SKYLAKE_X, False),
                                             (GRAVITON2, False), ("", False)])
def test_native_bf16_is_read_from_the_cpu_flags(cpuinfo, native):
    assert has_native_bf16(cpu_flags(cpuinfo)) is native


def test_native_bf16_from_a_file_and_torch_probe_only_without_flags(tmp_path):
    never = lambda: pytest.fail("the flags answer; torch's probe must not be asked")  # noqa: E731
    (tmp_path / "zen4").write_text(ZEN4)
    (tmp_path / "skylake").write_text(SKYLAKE_X)
    assert cpu_has_native_bf16(tmp_path / "zen4", never) is True
    assert cpu_has_native_bf16(tmp_path / "skylake", never) is False
    assert cpu_has_native_bf16(tmp_path / "missing", lambda: True) is True  # no /proc (macOS, Windows)
    assert cpu_has_native_bf16(tmp_path / "missing", lambda: False) is False


def test_auto_precision_per_device():
    assert resolve_precision("auto", CPU, native_bf16=lambda: True) == "bf16"
    assert resolve_precision("auto", CPU, native_bf16=lambda: False) == "fp32"
    assert resolve_precision("auto", CUDA, native_bf16=lambda: True) == "fp32"
    assert resolve_precision("auto", MPS, native_bf16=lambda: True) == "fp32"
    assert resolve_precision("fp16", CUDA) == "fp16"
    assert resolve_precision("bf16", CPU, native_bf16=lambda: True) == "bf16"
    with pytest.raises(CharlmError, match="bf16 needs a CPU with native bf16 units.*--precision fp32"):
        resolve_precision("bf16", CPU, native_bf16=lambda: False)  # oneDNN has no bf16 LSTM there
    assert resolve_precision("tf32", CUDA) == "tf32"
    with pytest.raises(CharlmError, match="fp16 needs a GPU.*--precision bf16 or fp32"):
        resolve_precision("fp16", CPU, native_bf16=lambda: True)
    with pytest.raises(CharlmError, match="fp16 needs a GPU.*--precision fp32$"):
        resolve_precision("fp16", CPU, native_bf16=lambda: False)  # bf16 is no way out there
    for device in (CPU, MPS):
        with pytest.raises(CharlmError, match="tf32 is a CUDA setting.*--precision fp32"):
            resolve_precision("tf32", device)
    with pytest.raises(CharlmError, match="choose one of " + ", ".join(PRECISIONS)):
        resolve_precision("fp8", CPU)


def test_precision_has_one_source_for_the_cli_the_config_and_the_device():
    from charlm.cli import build_parser

    train_parser = build_parser()._subparsers._group_actions[0].choices["train"]
    (option,) = [a for a in train_parser._actions if a.dest == "precision"]
    assert tuple(option.choices) == PRECISIONS and "tf32" in PRECISIONS
    assert [TrainConfig(precision=p).precision for p in PRECISIONS] == list(PRECISIONS)
    with pytest.raises(CharlmError, match="unknown precision 'half'; choose one of " + ", ".join(PRECISIONS)):
        TrainConfig(precision="half")


@needs_native_bf16
def test_autocast_runs_the_lstm_in_the_asked_dtype_on_cpu():
    lstm = torch.nn.LSTM(8, 16, batch_first=True)
    x = torch.randn(2, 5, 8)
    with autocast(CPU, "bf16"):
        assert lstm(x)[0].dtype == torch.bfloat16
    with autocast(CPU, "fp32"):
        assert lstm(x)[0].dtype == torch.float32


def test_auto_device_prefers_cuda_then_mps_then_cpu():
    assert choose_device(cuda_available=True, mps_available=True) == "cuda"
    assert choose_device(cuda_available=False, mps_available=True) == "mps"
    assert choose_device(cuda_available=False, mps_available=False) == "cpu"


@pytest.mark.skipif(torch.backends.mps.is_available(), reason="this machine has MPS")
def test_asking_for_mps_without_it_is_one_clear_error():
    with pytest.raises(CharlmError, match="MPS is not available here; use --device cpu"):
        resolve_device("mps")


def test_charlm_threads_pins_torch_threads_and_rejects_nonsense():
    before = torch.get_num_threads()
    try:
        assert configure_threads({"CHARLM_THREADS": "1"}) == 1 == torch.get_num_threads()
        assert configure_threads({}) == 1  # unset: torch's own setting is left alone
        for bad in ("0", "-2", "two"):
            with pytest.raises(CharlmError, match="CHARLM_THREADS"):
                configure_threads({"CHARLM_THREADS": bad})
    finally:
        torch.set_num_threads(before)


def test_old_checkpoints_bf16_flag_maps_to_precision():
    assert TrainConfig.from_dict({"bf16": True}).precision == "auto"
    assert TrainConfig.from_dict({"bf16": False}).precision == "fp32"
    assert TrainConfig.from_dict({"bf16": False, "precision": "bf16"}).precision == "bf16"
    with pytest.raises(CharlmError, match="unknown precision 'half'"):
        TrainConfig(precision="half")


def test_evaluation_is_float32_even_inside_an_autocast_region():
    torch.manual_seed(0)
    model = CharRNN(ModelConfig(30, "lstm", 32, 2))
    ids = torch.randint(0, 30, (3000,)).numpy()
    plain = evaluate(model, ids, 8, 20)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        inside = evaluate(model, ids, 8, 20)
        assert model.head(torch.zeros(1, 32)).dtype == torch.bfloat16  # autocast is really on (a matmul, any CPU)
    assert inside == plain


@pytest.mark.slow
@needs_native_bf16
def test_bf16_and_fp32_runs_of_one_seed_end_within_002_nats(tmp_path, monkeypatch):
    """Same seed, same batches: bf16 autocast ends within 0.02 nats/char of float32."""
    monkeypatch.setenv("CHARLM_THREADS", "1")  # two spinning threads on a shared 2-core machine cost 10x
    try:
        text = mirror_text("tinyshakespeare.txt.xz")[:200_000]
    except pytest.skip.Exception:
        text = make_text(200_000)
    runs = {}
    for precision in ("fp32", "bf16"):
        config = TrainConfig(batch_size=32, seq_length=50, max_iters=200, eval_interval=200, learning_rate=3e-3,
                             seed=5, precision=precision, device="cpu")
        runs[precision] = train(text, tmp_path / precision, {"rnn_size": 64, "num_layers": 2}, config, progress="none")
    fp32, bf16 = (runs[p].state for p in ("fp32", "bf16"))
    assert fp32.train_losses != bf16.train_losses  # the bf16 run really computed in bf16
    carried = torch.load(tmp_path / "bf16" / "last" / "trainer.pt", weights_only=True)["carried"]
    assert {s.dtype for s in carried} == {torch.float32}
    print(f"best val after 200 iterations: fp32 {fp32.best_val_loss:.4f}, bf16 {bf16.best_val_loss:.4f}")
    assert fp32.best_val_loss < 2.8 and abs(bf16.best_val_loss - fp32.best_val_loss) <= 0.02, (fp32, bf16)


def test_losses_reach_the_host_once_per_log_interval():
    """No host sync per step: the trainer reads the losses of the last log_interval steps together."""
    from charlm.trainer import Callback

    class SeenLosses(Callback):
        def __init__(self) -> None:
            self.seen: list[int] = []

        def on_step_end(self, trainer) -> None:
            self.seen.append(len(trainer.state.train_losses))

    seen = SeenLosses()
    config = TrainConfig(batch_size=4, seq_length=20, max_iters=25, eval_interval=1000, log_interval=10, seed=1,
                         device="cpu")
    result = train(make_text(20_000), None, {"rnn_size": 16, "num_layers": 1}, config, progress="none",
                   callbacks=[seen])
    assert seen.seen == [0] * 9 + [10] * 10 + [20] * 6
    assert len(result.state.train_losses) == 25 and result.state.train_loss == result.state.train_losses[-1]
    assert result.state.chars_per_second > 0
