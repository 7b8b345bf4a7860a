"""The HTTP surface: probes on one listener, /metrics and /status on another (see app.py),
each behind the bounds of listener.py."""
