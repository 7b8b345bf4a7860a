"""Talking to the Kubernetes API: requests, list+watch streams."""
