"""The companion to the post: presets, notebook helpers, per-section measurements, results, the runner.

The top layer below the command line: it may import ``charlm.analysis``, ``charlm.datasets`` and the engine.
"""
