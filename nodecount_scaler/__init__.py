"""nodecount-scaler: keeps annotated Deployments sized to the nodes where their pods can run."""

__version__ = "0.1.0"
