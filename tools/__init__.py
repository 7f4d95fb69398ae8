"""Command-line tools (``python tools/<name>.py``) and offline tooling."""
