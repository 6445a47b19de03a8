"""charlm.analysis.widgets: the temperature explorer, driven from Python the way the browser's events drive it."""

import re

import pytest
import torch

from charlm.errors import CharlmError
from charlm.model import CharRNN, ModelConfig
from charlm.sampler import sample
from charlm.vocab import Vocab
from charlm.analysis.widgets import TemperatureExplorer, temperature_explorer

TEXT = 'Hello "world" <b>&amp;</b>\nabc xyz.\n'


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def model_vocab():
    vocab = Vocab.from_text(TEXT)
    torch.manual_seed(0)
    return CharRNN(ModelConfig(vocab_size=len(vocab), rnn_size=16, num_layers=1)).eval(), vocab


def _shown(explorer: TemperatureExplorer) -> str:
    import html

    match = re.fullmatch(r'<pre class="charlm-sample-text"[^>]*>(.*)</pre>', explorer.output.value, re.S)
    assert match, explorer.output.value
    return html.unescape(match.group(1))


def test_initial_sample_is_the_samplers(model_vocab):
    model, vocab = model_vocab
    w = temperature_explorer(model, vocab, length=40, temperature=0.7, prime="He", seed=5)
    assert w.text == sample(model, vocab, 40, temperature=0.7, prime="He", seed=5)[0]
    assert _shown(w) == w.text  # escaped in the page, the same text once unescaped
    assert "charlm-explorer" in w._dom_classes
    assert {"charlm-temperature", "charlm-prime", "charlm-length", "charlm-resample", "charlm-sample"} <= {
        c for part in (w.temperature, w.prime, w.length, w.button, w.output) for c in part._dom_classes}
    assert (w.temperature.min, w.temperature.max) == (0.05, 2.0)


def test_slider_keeps_seed_and_resample_changes_it(model_vocab):
    model, vocab = model_vocab
    w = temperature_explorer(model, vocab, length=60, temperature=1.0, seed=1)
    first, seed = w.text, w.seed
    w.temperature.value = 1.9  # as the browser does: the observer resamples
    assert w.seed == seed and w.samples_drawn == 2
    assert w.text == sample(model, vocab, 60, temperature=1.9, seed=seed)[0] != first
    w.length.value = 10
    assert len(w.text) == 10
    w.button.click()
    assert w.seed == seed + 1 and w.samples_drawn == 4
    assert w.text == sample(model, vocab, 10, temperature=1.9, seed=seed + 1)[0]


def test_unseeded_resample_draws_new_text(model_vocab):
    model, vocab = model_vocab
    w = temperature_explorer(model, vocab, length=80, temperature=1.5)
    texts = {w.text}
    for _ in range(3):
        w.button.click()
        texts.add(w.text)
    assert len(texts) > 1


def test_bad_prime_is_a_message_not_a_traceback(model_vocab):
    model, vocab = model_vocab
    w = temperature_explorer(model, vocab, length=20, seed=3)
    before = w.text
    w.prime.value = "Q\u00e9"  # neither character is in the vocabulary
    assert w.error and "never saw" in w.error
    assert "charlm-error" in w.status._dom_classes and "never saw" in w.status.value
    assert w.text == before  # the last good sample stays
    w.prime.value = "abc"
    assert w.error is None and "charlm-error" not in w.status._dom_classes
    assert w.text.startswith("abc")


def test_html_special_characters_are_escaped(model_vocab):
    model, vocab = model_vocab
    w = temperature_explorer(model, vocab, length=5, prime="<b>&amp;", seed=0)
    assert "<b>" not in w.output.value.split(">", 1)[1]
    assert _shown(w).startswith("<b>&amp;")


def test_arguments_are_checked(model_vocab):
    model, vocab = model_vocab
    with pytest.raises(CharlmError):
        temperature_explorer(model, vocab, length=0)
    with pytest.raises(CharlmError):
        temperature_explorer(model, vocab, temperature=5.0)


# --------------------------------------------------------------------------- the static explorer (no kernel)


def _static_pres(markup: str) -> list[tuple[str, bool, str]]:
    """(data-temperature, hidden?, text) of each sample <pre> in the static explorer's HTML."""
    import html

    found = re.findall(r'<pre class="charlm-static-sample" data-temperature="([^"]+)" style="[^"]*"( hidden)?>(.*?)</pre>',
                       markup, re.S)
    return [(t, bool(hidden), html.unescape(text)) for t, hidden, text in found]


def test_static_explorer_holds_one_seeded_sample_per_temperature(model_vocab):
    from charlm.analysis.widgets import STATIC_TEMPERATURES, static_temperature_explorer

    model, vocab = model_vocab
    shown = static_temperature_explorer(model, vocab, length=50, prime="He", seed=4)
    pres = _static_pres(shown.data)
    assert len(STATIC_TEMPERATURES) == 10 and [float(t) for t, _, _ in pres] == sorted(STATIC_TEMPERATURES)
    for t, _, text in pres:
        assert text == sample(model, vocab, 50, temperature=float(t), prime="He", seed=4)[0]
    assert [t for t, hidden, _ in pres if not hidden] == ["1"]  # 1.0 shows first; the rest wait for the slider
    assert 'type="range"' in shown.data and 'max="9"' in shown.data and 'value="6"' in shown.data
    assert "<script" not in shown.data and "http" not in shown.data
    assert len({text for _, _, text in pres}) > 5  # temperature changes the text, the seed held fixed


def test_static_explorer_from_precomputed_samples_and_its_errors(model_vocab):
    from charlm.analysis.widgets import static_temperature_explorer, static_temperature_html

    shown = static_temperature_explorer(samples={2.0: "qq", 0.5: "a <b> & c", 1.5: "zzz"})
    # Sorted by temperature; without a 1.0 the middle one shows first.
    assert _static_pres(shown.data) == [("0.5", True, "a <b> & c"), ("1.5", False, "zzz"), ("2", True, "qq")]
    with pytest.raises(CharlmError, match="needs a model and its vocab, or samples="):
        static_temperature_explorer()
    with pytest.raises(CharlmError, match="no samples to show"):
        static_temperature_html({})
    with pytest.raises(CharlmError, match="temperature 0.7 has no sample; choose one of 0.5, 1.5"):
        static_temperature_html({0.5: "a", 1.5: "b"}, temperature=0.7)
    model, vocab = model_vocab
    with pytest.raises(CharlmError, match="temperature .* is -0.5; it must be at least 0"):
        static_temperature_explorer(model, vocab, temperatures=(0.5, -0.5), length=5)
