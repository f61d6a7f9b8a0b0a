"""The Textual TUI: ``run_tui`` and ``QNetInspectApp`` live in ``qnetinspect.tui.app``."""
