"""Widgets of the TUI: they draw what the app hands them and hold no inspection logic."""
