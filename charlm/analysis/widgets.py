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
"""

from __future__ import annotations

import html
import random
import time
from typing import Any

import ipywidgets as widgets

from charlm.errors import CharlmError
from charlm.model import CharRNN
from charlm.sampler import stream
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
