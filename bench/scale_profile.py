"""Where the scaler's CPU went: a summary of py-spy's collapsed stacks (--profile).

    .venv/bin/python -m bench.scale_profile PROFILE [--top 25]

prints the functions with the most samples on the stack (inclusive) and at its top (self),
as shares of the busy samples. Idle samples are counted apart: the event loop waiting in
epoll, and executor threads waiting for work (py-spy --nonblocking cannot tell those from
work, so they are recognised by their top frame).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

# "function (path/to/module.py:123)" -> "function (module.py)"
_FRAME = re.compile(r"^(?P<name>.*?) \((?P<path>[^:()]*?)(?::\d+)?\)$")
IDLE = frozenset(
    {"EpollSelector.select (selectors.py)", "select (selectors.py)", "_worker (thread.py)"}
)


def frame_name(frame: str) -> str:
    match = _FRAME.match(frame.strip())
    if match is None:
        return frame.strip()
    return f"{match['name']} ({Path(match['path']).name})"


# Parts of the scaler's work, recognised by a frame on the stack; the first match wins.
PARTS = (
    ("pods: read and marked around a scale-down", ("Steering.",)),
    ("Event writes", ("EventRecorder._write",)),
    ("aiohttp trust_env hops (netrc, proxies, in threads)", ("_WorkItem.run", "netrc_from_env")),
    (
        "other HTTP: requests, TLS, the client",
        ("KubeClient.", "ClientRequest.", "ClientSession.", "SSLProtocol.", "ResponseHandler."),
    ),
    ("watch: decode, project, state", ("Reflector._watch", "Reflector._handle")),
    ("logging", ("LineLogger.msg", "BoundLoggerFilteringAt")),
    ("reconcile: decision, metrics, queue", ("Controller._worker", "Reconciler.")),
)


def part_of(frames: list[str]) -> str:
    for part, needles in PARTS:
        if any(needle in frame for frame in frames for needle in needles):
            return part
    return "other: the event loop, timers, sockets"


def summarize(text: str) -> tuple[int, int, Counter[str], Counter[str]]:
    """(samples, idle samples, inclusive, self) over the collapsed stacks."""
    total = idle = 0
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    for line in text.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [frame_name(f) for f in stack.split(";") if f]
        total += count
        if frames and frames[-1] in IDLE:
            idle += count
            continue
        for name in set(frames):
            inclusive[name] += count
        if frames:
            own[frames[-1]] += count
        inclusive[f"[part] {part_of(frames)}"] += count
    return total, idle, inclusive, own


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scale_profile")
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)
    total, idle, inclusive, own = summarize(args.profile.read_text())
    busy = max(1, total - idle)
    print(f"{total} samples, {idle} idle (waiting for I/O or work), {busy} busy")
    parts = Counter({k[7:]: v for k, v in inclusive.items() if k.startswith("[part] ")})
    for name in parts:
        del inclusive[f"[part] {name}"]
    for title, counts in (("by part", parts), ("inclusive", inclusive), ("self", own)):
        print(f"\n{title} (share of busy samples):")
        for name, count in counts.most_common(args.top):
            print(f"  {count / busy:6.1%}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
