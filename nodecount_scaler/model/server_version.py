"""Which Kubernetes API servers this service runs against: the version an API server
reports at /version, read and compared with the supported range, without I/O.

The range is the releases the compatibility tier proves (docs/kubernetes-versions.md; the
pins live in hack/versions.env, the Helm chart's `kubeVersion` says the same, and a unit test
keeps the three equal). Below the oldest, the service refuses to start: a half-working
service (a policy it relies on rejected at install, a watch feature missing) is worse than a
clear error. Above the newest tested, it runs and says the release is untested.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, Final

# (major, minor) of the oldest and newest releases the compatibility tier runs on.
MINIMUM: Final = (1, 34)
NEWEST_TESTED: Final = (1, 37)

# "v1.34.2", "v1.34.2-eks-1234", "v1.34.2+k3s1": major and minor lead gitVersion.
_GIT_VERSION = re.compile(r"v?(\d+)\.(\d+)(?:\.\d+)?(?:[-+].*)?")
# Managed offerings report minor as "34+" (a patched build): the leading digits count.
_NUMBER = re.compile(r"(\d+)\+?")


class Verdict(Enum):
    SUPPORTED = "supported"
    TOO_OLD = "too-old"
    UNTESTED_NEWER = "untested-newer"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class ServerVersion:
    """What /version said: ``release`` is (major, minor), None when unreadable."""

    release: tuple[int, int] | None
    shown: str  # gitVersion as reported, for the log line

    @property
    def verdict(self) -> Verdict:
        if self.release is None:
            return Verdict.UNKNOWN
        if self.release < MINIMUM:
            return Verdict.TOO_OLD
        if self.release > NEWEST_TESTED:
            return Verdict.UNTESTED_NEWER
        return Verdict.SUPPORTED


def release_name(release: tuple[int, int]) -> str:
    return f"{release[0]}.{release[1]}"


def parse_server_version(body: Mapping[str, Any]) -> ServerVersion:
    """Read a /version body (apimachinery's version.Info): ``major`` and ``minor`` first,
    ``gitVersion`` when they are missing or unreadable."""
    shown = body.get("gitVersion")
    shown = shown if isinstance(shown, str) and shown else "(no gitVersion)"
    major, minor = body.get("major"), body.get("minor")
    if isinstance(major, str) and isinstance(minor, str):
        major_match, minor_match = _NUMBER.fullmatch(major), _NUMBER.fullmatch(minor)
        if major_match and minor_match:
            release = (int(major_match.group(1)), int(minor_match.group(1)))
            return ServerVersion(release, shown)
    git = _GIT_VERSION.fullmatch(shown)
    if git:
        return ServerVersion((int(git.group(1)), int(git.group(2))), shown)
    return ServerVersion(None, shown)
