"""Named bounds on what any input may cost: one tenant's annotation, one API response, one
HTTP client. Past a bound the input gets a clear error (and a metric), never a larger
share of memory or time. The README's "Limits" table lists each one.
"""

from __future__ import annotations

from typing import Final

# --- annotations ------------------------------------------------------------------------

# A node selector this long is already far beyond any real one; the API allows 256 KiB for
# all annotations together, enough for ~32,000 requirements.
NODE_SELECTOR_MAX_LENGTH: Final = 4096
NODE_SELECTOR_MAX_REQUIREMENTS: Final = 64
# How much of a bad value is quoted back in logs, Events and /status.
ANNOTATION_VALUE_SHOWN: Final = 64
