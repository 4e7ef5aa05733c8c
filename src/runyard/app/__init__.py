"""Use cases: what the CLI, the Python API and the web UI do, each a plain function or class.

They sit above ``execute`` (worker mechanics, launchers) and ``analyze`` (read-only results) and
below ``cli``/``ui``; the layers are enforced by import-linter contracts (``.importlinter``).
"""
