"""Interactive controls for the notebooks: sample a loaded model while moving the temperature.

``temperature_explorer(model, vocab)`` shows a temperature slider, a prime text box, a length slider and a
Resample button above the sample, which is written into the page character by character as the model
produces it (``charlm.sampler.stream``). Moving the temperature keeps the random seed, so what changes is
the effect of temperature alone; Resample draws a new seed. A prime with characters the model never saw is
reported in the widget's status line, not as a traceback.

Every part carries a CSS class, so a browser (or a test driving one) can find it::

    charlm-explorer     the whole box             charlm-temperature  FloatSlider, 0.05 .. 2.0
    charlm-prime        Text box                  charlm-length       IntSlider, characters to generate
    charlm-resample     Button                    charlm-sample       HTML widget; the text is in its <pre>
    charlm-status       HTML line: settings or the error message (with class charlm-error then)

``static_temperature_explorer(model, vocab)`` is the same idea for readers without a kernel (the book, an HTML
export): samples drawn in advance at about ten temperatures with one seed, in self-contained HTML whose plain
``<input type=range>`` shows one of them at a time. No widget framework, no script file, nothing from a CDN::

    charlm-static-explorer     the whole box        charlm-static-temperature   the range input (index of a sample)
    charlm-static-readout      <output>: the temperature shown
    charlm-static-sample       one <pre> per temperature, data-temperature="0.5"; all but one hidden
"""

from __future__ import annotations

import html
import random
import time
from collections.abc import Mapping, Sequence
from typing import Any

import ipywidgets as widgets

from charlm.errors import CharlmError
from charlm.model import CharRNN
from charlm.sampler import sample, stream
from charlm.vocab import Vocab

T_MIN, T_MAX, T_STEP = 0.05, 2.0, 0.05
# Push the growing sample to the page at most this often: a message per character would flood the browser.
REFRESH_SECONDS = 0.05

_PRE_STYLE = ("white-space: pre-wrap; word-break: break-word; margin: 0; padding: 6px 8px; "
              "font-family: var(--jp-code-font-family, monospace); font-size: var(--jp-code-font-size, 13px); "
              "border-left: 3px solid var(--jp-brand-color1, #888); min-height: 3em")


def _new_seed() -> int:
    return random.SystemRandom().randrange(2**31)


class TemperatureExplorer(widgets.VBox):
    """The widget :func:`temperature_explorer` returns; its parts are attributes, for code and tests."""

    def __init__(self, model: CharRNN, vocab: Vocab, *, length: int = 300, temperature: float = 1.0,
                 prime: str = "", seed: int | None = None, max_length: int | None = None) -> None:
        if length < 1:
            raise CharlmError(f"length {length} must be at least 1")
        if not T_MIN <= temperature <= T_MAX:
            raise CharlmError(f"temperature {temperature} is outside the slider's range {T_MIN}..{T_MAX}")
        self.model = model
        self.vocab = vocab
        self.seed = seed if seed is not None else _new_seed()
        self._fixed_seed = seed is not None
        self.text = ""  # the last sample, prime included
        self.error: str | None = None
        self.samples_drawn = 0

        self.temperature = widgets.FloatSlider(
            value=temperature, min=T_MIN, max=T_MAX, step=T_STEP, description="temperature",
            continuous_update=False, readout_format=".2f", style={"description_width": "initial"},
            layout=widgets.Layout(width="420px"))
        self.prime = widgets.Text(value=prime, description="prime", placeholder="(start of a line)",
                                  continuous_update=False, layout=widgets.Layout(width="420px"))
        top = max_length if max_length is not None else max(2000, length)
        self.length = widgets.IntSlider(value=length, min=1, max=top, step=1 if top < 100 else 10,
                                        description="length", continuous_update=False,
                                        layout=widgets.Layout(width="420px"))
        self.button = widgets.Button(description="Resample", icon="refresh", tooltip="draw a new sample (new seed)")
        self.status = widgets.HTML()
        self.output = widgets.HTML(value=self._pre(""))
        for part, css in ((self.temperature, "charlm-temperature"), (self.prime, "charlm-prime"),
                          (self.length, "charlm-length"), (self.button, "charlm-resample"),
                          (self.status, "charlm-status"), (self.output, "charlm-sample")):
            part.add_class(css)
        controls = widgets.HBox([self.button, self.status], layout=widgets.Layout(align_items="center"))
        super().__init__([self.temperature, self.prime, self.length, controls, self.output])
        self.add_class("charlm-explorer")

        for part in (self.temperature, self.prime, self.length):
            part.observe(self._on_change, names="value")
        self.button.on_click(self._on_click)
        self.resample(new_seed=False)

    # ---- drawing ----------------------------------------------------------------------------------------

    @staticmethod
    def _pre(text: str) -> str:
        return f'<pre class="charlm-sample-text" style="{_PRE_STYLE}">{html.escape(text)}</pre>'

    def _show_status(self, message: str, error: bool = False) -> None:
        if error:
            self.status.add_class("charlm-error")
            self.status.value = f'<span style="color: #c62828; font-weight: bold">{html.escape(message)}</span>'
        else:
            self.status.remove_class("charlm-error")
            self.status.value = f"<span>{html.escape(message)}</span>"

    def resample(self, new_seed: bool = True) -> str:
        """Draw a sample with the current settings (a new seed unless told otherwise); return its text."""
        if new_seed:
            self.seed = self.seed + 1 if self._fixed_seed else _new_seed()
        prime, temperature, length = self.prime.value, float(self.temperature.value), int(self.length.value)
        try:
            chars = stream(self.model, self.vocab, length=length, temperature=temperature, prime=prime, seed=self.seed)
        except CharlmError as err:
            self.error = str(err)
            self._show_status(self.error, error=True)
            return self.text
        self.error = None
        self._show_status(f"sampling {length} characters at temperature {temperature:.2f} (seed {self.seed}) ...")
        pieces, last = [prime], time.perf_counter()
        for column in chars:
            pieces.append(column[0])
            now = time.perf_counter()
            if now - last >= REFRESH_SECONDS:
                self.output.value = self._pre("".join(pieces))
                last = now
        self.text = "".join(pieces)
        self.output.value = self._pre(self.text)
        self.samples_drawn += 1
        self._show_status(f"{length} characters at temperature {temperature:.2f}, seed {self.seed}")
        return self.text

    # ---- events -----------------------------------------------------------------------------------------

    def _on_change(self, change: dict[str, Any]) -> None:
        self.resample(new_seed=False)  # same seed: only the changed setting shows in the text

    def _on_click(self, _button: widgets.Button) -> None:
        self.resample(new_seed=True)


def temperature_explorer(model: CharRNN, vocab: Vocab, *, length: int = 300, temperature: float = 1.0,
                         prime: str = "", seed: int | None = None) -> TemperatureExplorer:
    """A temperature slider, prime box, length slider and Resample button over ``model``, sample streamed below.

    With ``seed`` the samples are reproducible (Resample steps the seed by one); without, each Resample
    draws a fresh random seed. Display the returned widget as a cell's last expression.
    """
    return TemperatureExplorer(model, vocab, length=length, temperature=temperature, prime=prime, seed=seed)


# ---- without a kernel ---------------------------------------------------------------------------------------

# Ten temperatures from nearly greedy to nearly uniform, so that both ends show: the repetitive, safe text of a low
# temperature and the misspelled, surprising text of a high one.
STATIC_TEMPERATURES: tuple[float, ...] = (0.1, 0.2, 0.3, 0.5, 0.7, 0.8, 1.0, 1.2, 1.5, 2.0)

# The slider's handler, inline so that the HTML needs no script element: show the <pre> whose index is the value.
_ON_INPUT = ("var box=this.closest('.charlm-static-explorer'),i=+this.value;"
             "box.querySelectorAll('pre.charlm-static-sample').forEach(function(pre,k){pre.hidden=k!==i;"
             "if(k===i){box.querySelector('output.charlm-static-readout').value=pre.dataset.temperature;}});")


def static_samples(model: CharRNN, vocab: Vocab, temperatures: Sequence[float] = STATIC_TEMPERATURES,
                   length: int = 300, prime: str = "", seed: int = 0) -> dict[float, str]:
    """One sample per temperature, all with the same seed: what changes between them is the temperature alone."""
    return {float(t): sample(model, vocab, length, temperature=float(t), prime=prime, seed=seed)[0]
            for t in temperatures}


def static_temperature_html(samples: Mapping[float, str], temperature: float | None = None, caption: str = "") -> str:
    """Self-contained HTML: a range input over ``samples`` (temperature -> text), showing the one at
    ``temperature`` first (default: 1.0 when present, else the middle one)."""
    if not samples:
        raise CharlmError("no samples to show: give at least one temperature")
    shown = sorted(samples.items())
    temps = [t for t, _ in shown]
    if temperature is None:
        temperature = 1.0 if 1.0 in temps else temps[len(temps) // 2]
    if temperature not in temps:
        raise CharlmError(f"temperature {temperature:g} has no sample; choose one of {', '.join(f'{t:g}' for t in temps)}")
    start = temps.index(temperature)
    pres = "\n".join(f'<pre class="charlm-static-sample" data-temperature="{t:g}" style="{_PRE_STYLE}"'
                     f'{"" if i == start else " hidden"}>{html.escape(text)}</pre>' for i, (t, text) in enumerate(shown))
    note = f'<div style="font-size: smaller; opacity: .75">{html.escape(caption)}</div>' if caption else ""
    return (f'<div class="charlm-static-explorer">'
            f'<label style="display: flex; gap: .6em; align-items: center">temperature '
            f'<input type="range" class="charlm-static-temperature" min="0" max="{len(shown) - 1}" step="1" '
            f'value="{start}" style="width: 320px" aria-label="temperature" oninput="{html.escape(_ON_INPUT)}">'
            f'<output class="charlm-static-readout">{temperature:g}</output></label>{note}\n{pres}</div>')


def static_temperature_explorer(model: CharRNN | None = None, vocab: Vocab | None = None,
                                temperatures: Sequence[float] = STATIC_TEMPERATURES, length: int = 300,
                                prime: str = "", seed: int = 0, *, samples: Mapping[float, str] | None = None):
    """A temperature slider that works without a kernel: samples of ``model`` drawn now at each of
    ``temperatures`` with one ``seed`` (or the ``samples`` given, temperature -> text), in plain HTML. Display the
    returned object as a cell's last expression; it stays in the executed notebook and in its HTML export."""
    from IPython.display import HTML

    if samples is None:
        if model is None or vocab is None:
            raise CharlmError("static_temperature_explorer needs a model and its vocab, or samples=")
        if not temperatures:
            raise CharlmError("no temperatures given; pass some, e.g. STATIC_TEMPERATURES")
        samples = static_samples(model, vocab, temperatures, length, prime, seed)
        caption = f"{length} characters per temperature, seed {seed}" + (f", prime {prime!r}" if prime else "") + \
            ": drawn in advance, so this slider works without a kernel"
    else:
        caption = "samples drawn in advance, so this slider works without a kernel"
    return HTML(static_temperature_html(samples, caption=caption))
