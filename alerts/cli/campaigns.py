"""Commands: filled in by the issue that builds them."""

COMMANDS: list = []
