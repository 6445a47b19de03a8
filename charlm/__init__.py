"""charlm: character-level RNN language models, after Karpathy's "The Unreasonable Effectiveness of RNNs".

Layers, top to bottom (each imports only those below it; tests/test_architecture.py checks it):
``cli``/``reproduce`` (entry points) > ``charlm.paper`` (the companion) > ``charlm.analysis`` (measuring text and
models) > ``charlm.datasets`` (the corpora) > the engine, this package's top-level modules: vocab, data, model,
config, trainer, callbacks, checkpoint, sampler, device, distributed, run, errors.
"""

from charlm.errors import CharlmError

__version__ = "0.1.0"

__all__ = ["CharlmError", "__version__"]
