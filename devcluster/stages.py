"""kwok stage files with a slower node heartbeat, for clusters of thousands of Nodes.

The stock ``node-heartbeat-with-lease`` stage rewrites every Node's status about every
10-20 minutes; at 3,000 Nodes that alone is several Node updates a second, which every
Node watcher (the scaler under test included) decodes. A benchmark that measures what one
real node change costs wants that background quiet: the copy made here waits
``heartbeat_seconds`` (plus as much jitter) between heartbeats. Liveness does not depend
on it: kwok renews each Node's Lease every lease duration / 4 (see ControlPlane's
``node_monitor_grace_period``).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

HEARTBEAT_STAGE = "node-heartbeat-with-lease.yaml"
_DELAY = re.compile(r"(durationMilliseconds|jitterDurationMilliseconds): \d+")


def slow_heartbeat_stages(source: Path, target: Path, heartbeat_seconds: int) -> Path:
    """Copy every stage file of ``source`` into ``target``, the heartbeat stage with its
    delay and jitter set to ``heartbeat_seconds``; return ``target``."""
    target.mkdir(parents=True, exist_ok=True)
    for stage in sorted(source.glob("*.yaml")):
        shutil.copyfile(stage, target / stage.name)
    heartbeat = target / HEARTBEAT_STAGE
    text = heartbeat.read_text()
    slowed, replaced = _DELAY.subn(lambda m: f"{m.group(1)}: {heartbeat_seconds * 1000}", text)
    if replaced != 2:
        raise ValueError(f"{heartbeat}: expected a delay and a jitter, found {replaced} fields")
    heartbeat.write_text(slowed)
    return target
