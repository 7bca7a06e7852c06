"""alerts: email newsletters and action alerts for advocacy groups."""

__version__ = "0.1.0"
