"""Screens of the TUI (help; the hot-plug screens live in ``hotplug.py``, by another module)."""
