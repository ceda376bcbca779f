"""Benchmarks of the marketplace (``python -m bench``; see DESIGN.md, "Performance targets").

Every module here other than ``common`` is a benchmark: it has a ``NAME`` and a
``run(ctx) -> dict``, and may have ``summary(result) -> list[str]`` for the lines printed
under its table (targets met or missed).

``shared`` is imported first so that psycopg picks the selector wait function; nothing is
monkey-patched: benchmarks use plain threads.
"""

import warnings

# ``shared`` imports nameko, which imports eventlet (without patching anything); eventlet
# announces its own deprecation at import.
warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")

import shared  # noqa: E402,F401
