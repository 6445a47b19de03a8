"""The benchmark scripts run (with tiny sizes) and print their ratio lines, so they cannot silently rot."""

import os
import re
import subprocess
import sys
from pathlib import Path

from charlm.device import cpu_has_native_bf16

ROOT = Path(__file__).resolve().parents[1]


def run(script: str, *args: str, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args], capture_output=True,
                          text=True, timeout=600, cwd=ROOT, env={**os.environ, **(env or {})})
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_bench_train_reports_a_ratio():
    out = run("bench_train.py", "--steps", "3", "--rounds", "1", "--rnn-size", "16", "--batch-size", "4",
              "--seq-length", "20", "--threads", "1", "2")
    assert len(re.findall(r"charlm / bare fp32: \d+\.\d{3}", out)) == 2, out
    bf16 = len(re.findall(r"charlm / bare bf16: \d+\.\d{3}", out))
    assert bf16 == (2 if cpu_has_native_bf16() else 0), out


def test_gpu_check_dry_runs_on_cpu():
    """make gpu-check must be ready when a GPU is lent: on a CPU its quick dry run goes through every section."""
    out = run("gpu_check.py", "--device", "cpu", "--quick", env={"CHARLM_THREADS": "1"})
    last = "bf16" if cpu_has_native_bf16() else "fp32"  # bf16 runs only on CPUs with native bf16 units
    for section in ("1. pytest", f"2. precision {last}", f"3. {last}", "4. resume bit-identical",
                    "5. a cpu checkpoint", "6. 2x64 LSTM"):
        assert section in out, out
    assert "SUMMARY all checks passed" in out, out


def test_bench_sample_reports_rates():
    out = run("bench_sample.py", "--length", "40")
    assert len(re.findall(r"batch 1 +[\d,]+ chars/s", out)) == 2, out


def test_bench_ngram_finds_its_corpus_as_the_package_does():
    from helpers import mirror_text

    mirror_text("names.txt.xz")  # skips without the offline mirror
    out = run("bench_ngram.py", "--corpus", "names", "--orders", "1-2", "--chars", "5000")
    assert out.startswith("names: train 4,500 chars") and re.search(r"best: order [12] at \d\.\d{4} nats/char", out), out


def test_bench_memory_reports_bytes_per_character():
    out = run("bench_memory.py", "--chars", "300000")
    assert re.search(r"^\s+300,000 chars \(300,000 bytes\): peak RSS [\d,]+ MiB", out, flags=re.MULTILINE), out
    assert re.search(r"^training data at peak: -?\d+\.\d\d bytes per character", out, flags=re.MULTILINE), out


def test_bench_ngram_runs_the_cli_on_a_synthetic_text():
    out = run("bench_ngram.py", "--synthetic", "200000", "--orders", "2")
    assert out.startswith("synthetic text: 200,000 chars"), out
    assert re.search(r"order 2: exit 0, first line after [\d.]+ s, [\d.]+ s in all, peak RSS [\d.]+ GiB\n"
                     r"  order 2 on 180,000 chars: needs at most \d+ MiB .*\n  order 2: held-out loss \d\.\d{4}", out), out


def test_bench_stop_reports_the_seconds_to_exit():
    out = run("bench_stop.py", "--mb", "2", "--wait", "0", "--train-args", "--rnn-size 16 --num-layers 1 --seq-length 8")
    exits = re.findall(r"exit 143 after (\d+\.\d\d) s; last/ at iteration (\d+), validated: False", out)
    assert len(exits) == 2 and int(exits[1][1]) >= 50, out


def test_bench_recipe_prints_one_row_per_variant_at_the_same_budget():
    from helpers import mirror_text

    mirror_text("warpeace_input.txt.xz")  # skips without the offline mirror
    out = run("bench_recipe.py", "--chars", "40000", "--iters", "4", "--rnn-size", "8", "--batch-size", "4",
              "--seq-length", "16", "--eval-interval", "2", "--variants", "ours", "char-rnn")
    rows = re.findall(r"^\| (ours|char-rnn) \| .* \| (\d\.\d{4}) \((\d+)\) \| (\d\.\d{4}) \| (\d\.\d{4}) \| ([\d,]+) \| \d+ \|$",
                      out, flags=re.MULTILINE)
    assert sorted(r[0] for r in rows) == ["char-rnn", "ours"], out
    assert [float(r[1]) for r in rows] == sorted(float(r[1]) for r in rows)  # the lowest validation loss first
    assert all(r[2] in ("2", "4") for r in rows) and out.count('"done": "max_iters", "iterations": 4') == 2


def test_bench_warmup_scores_each_split_after_each_warmup():
    from helpers import mirror_text

    mirror_text("warpeace_input.txt.xz")  # skips without the offline mirror
    out = run("bench_warmup.py", "--chars", "30000", "--iters", "3", "--rnn-size", "8", "--batch-size", "4",
              "--seq-length", "16", "--warmups", "0", "16")
    lines = re.findall(r"^(val|test) warmup +(\d+): (\d\.\d{5}) nats/char", out, flags=re.MULTILINE)
    assert [(s, int(w)) for s, w, _ in lines] == [("val", 0), ("val", 16), ("test", 0), ("test", 16)], out
