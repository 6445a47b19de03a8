"""Measuring text and models: the n-gram baseline, sample statistics, the neuron views, displays and the temperature widget.

This layer sits between the engine (``charlm.*`` top-level modules) and the datasets below it and the paper
companion above it: it may import ``charlm.datasets`` and the engine, never ``charlm.paper``.
"""
