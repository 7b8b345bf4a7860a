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
# A ladder annotation (nodes-to-replicas, cores-to-replicas): CPA's own longest example
# table has 15 steps; these bounds keep decoding instant.
LADDER_MAX_LENGTH: Final = 4096
LADDER_MAX_STEPS: Final = 100

# --- node data ---------------------------------------------------------------------------

# A resource quantity (a node's allocatable CPU): real ones are under 25 characters
# ("9223372036854775807Ki" is 21); 2^63 is about 9.2e18, so a decimal exponent of 1000 is
# far past any resource and still instant to compute.
QUANTITY_MAX_LENGTH: Final = 128
QUANTITY_MAX_EXPONENT: Final = 1000
# The shared taint and taint-set pools of the node views. Sharing is only an optimisation;
# a taint with a unique value per node (Cluster Autoscaler's
# ToBeDeletedByClusterAutoscaler=<timestamp>) must not make them grow for ever, so they
# start over at this size.
TAINT_POOL_LIMIT: Final = 4096

# --- memos of the decision -----------------------------------------------------------------

# A target's eligibility memo (model/eligibility.py), keyed on what its rules read: a
# target keyed on a per-node label would otherwise hold one entry per node ever seen.
ELIGIBILITY_MEMO_ENTRIES: Final = 65536
# The targets whose last projection a watch remembers (model/targets.py TargetProjector).
PROJECTION_MEMO_ENTRIES: Final = 10_000

# --- one target's pod template ------------------------------------------------------------
# What one opted-in workload may cost, whatever its owner writes (the API server takes
# objects up to about 1.5 MiB: a valid pod template can hold thousands of node-affinity
# terms or tolerations). Past either bound the target is refused with an InvalidTemplate
# Event and left untouched.
# A workload's JSON past this is never decoded whole: only its skeleton (kube/wire.py:
# name, annotations, replicas) is built, so such an object costs its bytes while they are
# read, not the ~10x its decoded dicts would hold. Real Deployments are 5-50 KiB, with a
# last-applied annotation and managedFields up to about three times their spec.
MAX_TARGET_OBJECT_BYTES: Final = 512 * 1024
# nodeSelector pairs, node-affinity expressions and fields, tolerations and topology spread
# constraints of one pod template, all together: each is held for as long as the target is
# and read for every node event that reaches it. Real templates have a handful.
MAX_TEMPLATE_TERMS: Final = 256

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

# --- Events ------------------------------------------------------------------------------

# Event series, announcements and per-target write budgets held: client-go's
# maxLruCacheEntries.
EVENT_SERIES_LIMIT: Final = 4096
# Event writes about one target: one per this many seconds (client-go's spam filter refills
# one event per object every 5 minutes); occurrences in between are counted, not dropped.
EVENT_WRITE_INTERVAL: Final = 300.0
# An Event's message is cut to this many characters (the API server takes a core/v1 Event
# message of any length: it stored 1,000,000 characters; only events.k8s.io/v1 caps its
# note at 1 KiB), and the shipped Events policy refuses a longer one from this service's
# token. A longer de-duplication topic is kept as a digest.
EVENT_MESSAGE_LIMIT: Final = 1024
EVENT_TOPIC_LIMIT: Final = 128
# What the Events policy admits of an Event's timestamps, measured against the API server's
# own clock at admission (creationTimestamp on create; the time the server's field manager
# gives this service's managedFields entry on a patch): no time later than this far ahead
# (the skew allowed between the service's clock and the server's)...
EVENT_CLOCK_SKEW: Final = 300
# ...and a new Event's firstTimestamp no earlier than this far back. Held occurrences are
# written within EVENT_WRITE_INTERVAL; the recorder moves an older first occurrence up to
# this bound (less the skew) rather than have the Event refused.
EVENT_BACKDATE_MAX: Final = 3600
# And of its count: at most this many plus this many a second between its firstTimestamp
# and its lastTimestamp (one Event is one reason about one target; a Warning repeats at most
# once per 10 minutes, a Normal one once per replica change). The recorder writes a larger
# count as this bound; every occurrence is still a log line and a metric.
EVENT_COUNT_BASE: Final = 100
EVENT_COUNT_PER_SECOND: Final = 10

# --- pod watches (pod-deletion-cost steering) -------------------------------------------
# A target's pod cache (list+watch of its pods, leader only) that no scale-down has read
# for this long is stopped: a target that scaled down once and then stays put must not
# hold a connection for ever; its next scale-down starts the cache again with one list,
# the request a cache-less scale-down makes anyway.
POD_WATCH_IDLE: Final = 600.0
# How long a scale-down waits for a pod cache it has just started to be synced (its first
# list). Steering is best effort and the scale write waits for it: past this the scale-down
# lists the pods once on the main client instead (control/podcache.py).
POD_WATCH_SYNC_TIMEOUT: Final = 5.0
# Nodes a target remembers having entered or left its eligible set since its pods were last
# steered (control/nodepods.py lists the pods of those nodes); past this it remembers none
# and its next scale-down lists its own pods.
MOVED_NODES_KEPT: Final = 8
# Lists of one node's pods kept for the scale-downs one node change causes (least recently
# listed out first).
NODE_POD_LISTS_KEPT: Final = 256
# Reads of a target's pods per move of its counted topology domains while some are still
# pending or being deleted (control/steering.py): a target whose pods never settle costs
# no more than this.
DOMAIN_CHECK_TRIES: Final = 3

# --- HTTP listeners ---------------------------------------------------------------------
# Each listener (probes, metrics) has its own bounds, so a flood of one never takes the
# other's connections. Past a cap a new connection first displaces the oldest one that has
# not yet sent a request head (a slow client); when every connection is busy it is closed
# at once, so open file descriptors stay under the sum of the caps.

PROBE_MAX_CONNECTIONS: Final = 32
METRICS_MAX_CONNECTIONS: Final = 128
# Requests handled at once per listener; the next one is answered 503 with Retry-After.
PROBE_MAX_IN_FLIGHT: Final = 8
METRICS_MAX_IN_FLIGHT: Final = 16
# Connections the kernel queues before the accept loop takes them (they hold no descriptor
# of the process until taken).
BACKLOG: Final = 128
# Seconds a connection may take to deliver a complete request head, counted from its
# accept (TLS handshake included) and again from the end of each response (keep-alive).
HEADER_TIMEOUT: Final = 5.0
# The endpoints are GET only: a request body beyond this is refused with 413.
MAX_BODY_BYTES: Final = 4096
# Request line, each header field, and the number of header fields.
MAX_REQUEST_LINE: Final = 4096
MAX_HEADER_FIELD: Final = 8190
MAX_HEADERS: Final = 32
# /metrics and /status are rendered afresh per request while RENDER_BURST renderings are
# saved up, then at most RENDERS_PER_SECOND a second; requests in between get the last
# rendering (under a flood at most 0.2 s old).
RENDERS_PER_SECOND: Final = 5.0
RENDER_BURST: Final = 10
# And each of them at most this share of one core: after a rendering that took c seconds
# of CPU the next waits c / share (at 2,000 targets a /status took ~0.1 s: one a second).
# The two together stay under a third of the event loop's time, so probes, watches and
# writes keep the rest however many clients read.
RENDER_CPU_SHARE: Final = 0.1
# A response body is written in chunks of this size, each once the client has taken the
# previous ones (the transport's buffer drained), so a reader holds at most about a chunk
# and the transport's buffer of memory, not its whole answer...
RESPONSE_CHUNK_BYTES: Final = 64 * 1024
# ...and must take the whole answer within this many seconds, or the connection is
# aborted: a reader that stops reading cannot hold its in-flight slot for ever.
RESPONSE_WRITE_TIMEOUT: Final = 10.0
# Bytes of /metrics and /status answers sent, all readers together: a bucket of this rate
# and burst; an answer past it is refused 503 with Retry-After. Encrypting and writing
# them is the loop's work too: 100 readers took 250 MB/s of 1 MB answers and kept
# /healthz waiting 0.4 s at the median. A Prometheus scraping every 15 s reads 1 MB at
# 2,000 targets.
RESPONSE_BYTES_PER_SECOND: Final = 16 * 2**20
RESPONSE_BYTES_BURST: Final = 32 * 2**20
# Fair shares between the identities reading them (the user a request authenticated as):
# one identity may have at most this many requests in flight on the connections it has
# used and answers being written at once (of METRICS_MAX_IN_FLIGHT)...
METRICS_IN_FLIGHT_PER_IDENTITY: Final = 4
# ...and take at most this share of the byte budget's rate and burst (4 MiB a second, 8
# saved up; a Prometheus reading 1 MB every 15 s needs a sixtieth of it). Past either the
# answer is 429 with Retry-After, before any byte is counted: 100 clients sharing one
# token left another scraper 0-4 % of its scrapes before these shares.
RESPONSE_BYTES_IDENTITY_SHARE: Final = 0.25
# Identities whose byte shares are remembered, least recently used out first (a share
# untouched for RESPONSE_BYTES_BURST / RESPONSE_BYTES_PER_SECOND seconds is full anyway).
FAIR_SHARE_IDENTITIES: Final = 1024
# Any string in /status is cut to this many characters (annotation values themselves are
# already cut to ANNOTATION_VALUE_SHOWN; the longest finding message is about 300 characters;
# this bounds API errors and messages that quote several values).
STATUS_STRING_MAX: Final = 1024
# asyncio's own error reports (accept failures, handshake errors) logged per minute; the
# rest are counted and summarised.
LOOP_ERRORS_LOGGED_PER_MINUTE: Final = 10

# --- leader election ------------------------------------------------------------------
# A Lease holder is taken at its word (its leaseDurationSeconds) for at most this many
# times our own --leader-election-lease-duration (60 s by default): every instance of one
# install declares the same duration, and a holder that declares more (2147483647, written
# with the service's own token) is not one of them. Past it the lease counts as expired
# once it has not changed for that long, and the holder is reported
# (nodecount_scaler_lease_overlong_total, a log line, the alert NodecountScalerLeaseOverlong).
LEASE_HOLDER_DURATION_FACTOR: Final = 4

# --- migrate-cpa ---------------------------------------------------------------------------

# CPA's manifests read from a file or standard input.
CPA_MANIFEST_MAX_BYTES: Final = 4 * 1024 * 1024
# CPA's parameters (its ConfigMap's JSON; its own examples are under 1 KiB) and any one flag.
CPA_PARAMS_MAX_LENGTH: Final = 16384
CPA_FLAG_MAX_LENGTH: Final = 16384
CPA_MAX_TARGETS: Final = 100
# A per-replica value written as 1e-40 or 1e40 would not fit a 32-character annotation
# anyway; bounding the exponent first keeps Decimal-to-Fraction conversion instant.
CPA_NUMBER_MAX_EXPONENT: Final = 30

# --- delegated authentication and authorization (the metrics listener) -------------------
# After controller-runtime's pkg/metrics/filters: TokenReview results for 1 minute,
# SubjectAccessReview allows for 5 minutes and denials for 30 seconds. Failed token
# reviews are kept briefly so a retried bad token costs nothing.
TOKEN_CACHE_TTL: Final = 60.0
TOKEN_FAILURE_CACHE_TTL: Final = 10.0
AUTHZ_ALLOW_CACHE_TTL: Final = 300.0
AUTHZ_DENY_CACHE_TTL: Final = 30.0
# Entries per cache (least recently used out first): a flood of distinct bogus tokens
# replaces old entries, never grows memory.
AUTH_CACHE_ENTRIES: Final = 1024
# TokenReviews and SubjectAccessReviews sent to the API server: a token bucket of this
# rate and burst, and at most this many at once. Past it: 429 with Retry-After.
REVIEWS_PER_SECOND: Final = 5.0
REVIEW_BURST: Final = 20
REVIEWS_IN_FLIGHT: Final = 4
REVIEW_TIMEOUT: Final = 5.0
# Bearer tokens are sorted into two review lanes, each with the bucket above: tokens that a
# local check shows the API server signed (http/tokens.py), and every other. The check
# decodes at most this much of a token, in base64 characters (header, claims), takes at most
# this many keys from the API server's JWKS document, and allows this many seconds of clock
# skew on a token's exp and nbf.
TOKEN_HEADER_MAX_CHARS: Final = 1024
TOKEN_CLAIMS_MAX_CHARS: Final = 8192
JWKS_MAX_KEYS: Final = 16
TOKEN_CLOCK_LEEWAY: Final = 60.0
# How often the client CA (ConfigMap kube-system/extension-apiserver-authentication) and a
# mounted serving certificate are re-read.
CLIENT_CA_REFRESH: Final = 60.0
SERVING_CERT_RECHECK: Final = 10.0
