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

# --- the API wire -----------------------------------------------------------------------
# Sizes: a Node's JSON is 5-50 KiB in practice (labels, taints, conditions and at most 50
# images, the kubelet's --node-status-max-images); etcd refuses a request above 1.5 MiB
# (--max-request-bytes), and an object's JSON can be about twice its stored protobuf.

# Objects asked for per list page: client-go's reflector default (pager.defaultPageSize).
LIST_PAGE_SIZE: Final = 500
# One response body: a list page of LIST_PAGE_SIZE objects (500 Nodes of 50 KiB are
# 25 MiB), one pod list of a target (the replica cap of 1,000 pods at 20 KiB is 20 MiB),
# or one object. Past it the response is dropped unread and the request fails.
MAX_RESPONSE_BYTES: Final = 64 * 2**20
# The one unpaged list made when a continue token expired mid-list (client-go's pager
# does the same): 3,000 Nodes of 50 KiB are 150 MiB.
MAX_UNPAGED_LIST_BYTES: Final = 256 * 2**20
# One watch event line: one object (etcd's 1.5 MiB, as JSON about 3 MiB) with a wide
# margin. The stream is dropped (and resumed) rather than buffering a longer line.
MAX_WATCH_EVENT_BYTES: Final = 16 * 2**20
# Objects in one list, all pages together: Kubernetes' tested envelope is 5,000 nodes and
# 150,000 pods; a 50,000-pod cluster has far fewer Deployments than pods.
MAX_LIST_ITEMS: Final = 150_000
# Pages in one list: the items' bound at half-full pages. A server that hands out continue
# tokens for ever is cut off here instead of being followed for ever.
MAX_LIST_PAGES: Final = 2 * MAX_LIST_ITEMS // LIST_PAGE_SIZE

# --- waiting on the server --------------------------------------------------------------

# The longest Retry-After (429 Too Many Requests, 503) that is honoured; a larger value
# waits this long. API Priority and Fairness asks for 1 s or a few; a minute still lets the
# service react within a minute once the server is healthy again.
RETRY_AFTER_MAX: Final = 60.0
# A watch asks the server to end it after a random time in [this, twice this): client-go's
# minWatchTimeout (5 minutes), so that many watches do not reconnect together.
WATCH_MIN_TIMEOUT: Final = 300.0
