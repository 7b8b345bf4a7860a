"""Values quoted back in error messages, cut so that a huge input cannot make a huge message."""

from __future__ import annotations


def shortened(text: str, limit: int = 80) -> str:
    """`text` itself when short; else its first `limit` characters and its length."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text)} characters)"
