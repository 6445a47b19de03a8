"""charlm: character-level RNN language models, after Karpathy's "The Unreasonable Effectiveness of RNNs"."""

from charlm.errors import CharlmError

__version__ = "0.1.0"

__all__ = ["CharlmError", "__version__"]
