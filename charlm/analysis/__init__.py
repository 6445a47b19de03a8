"""Measuring text and models, whatever the text: the n-gram baseline, sample statistics (closure, novelty, C
syntax, LaTeX that compiles), tracing a model and searching its cells, gate saturation, displays and the
temperature widget.

This layer sits between the engine (``charlm.*`` top-level modules) and the datasets below it and the companion
above it (``charlm.paper``): it may import ``charlm.datasets`` and the engine, never the companion. It names no
section, quotes nothing and knows no run folder: what one section of the companion measures lives with that
section (``charlm/paper/sections/``); tests/test_architecture.py checks both.
"""
