"""What the soak records every interval (RSS, open descriptors and log bytes of both
replicas, the Lease's holder and transitions, /healthz latency, which good targets have
their expected replicas) and the summary it prints and writes as JSON at the end."""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.soak_cluster import Soak, replicas_and_expected
from devcluster.api import ApiError
from devcluster.sampling import HealthSampler, quantile


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


@dataclass
class Recorder:
    """One sample per `tick()`; `health` are the replicas' /healthz samplers, in order."""

    soak: Soak
    health: Sequence[HealthSampler]
    started: float = field(default_factory=time.monotonic)
    samples: list[dict[str, Any]] = field(default_factory=list)
    holders: list[str] = field(default_factory=list)
    _seen: list[int] = field(default_factory=list)

    def tick(self) -> None:
        scalers = self.soak.scalers
        lease = self.soak.lease()
        holder = str(lease.get("holderIdentity") or "")
        if holder and (not self.holders or self.holders[-1] != holder):
            self.holders.append(holder)
        seen = self._seen or [0] * len(self.health)
        p99 = []
        for i, sampler in enumerate(self.health):
            recent = sampler.latencies()[seen[i] :]
            p99.append(_ms(quantile(recent, 0.99)) if recent else None)
            seen[i] += len(recent)
        self._seen = seen
        try:
            targets = {k: a == e for k, (a, e) in replicas_and_expected(self.soak).items()}
        except ApiError:
            targets = {}  # a sample without the targets' state (left out of that figure)
        self.samples.append(
            {
                "t": round(time.monotonic() - self.started, 1),
                "rss_mib": [round(s.rss_mib(), 1) for s in scalers],
                "fds": [s.open_fds() for s in scalers],
                "log_bytes": [s.log_path.stat().st_size for s in scalers],
                "holder": holder,
                "lease_transitions": int(lease.get("leaseTransitions") or 0),
                "healthz_p99_ms": p99,
                "converged": targets,
            }
        )

    def progress(self) -> str:
        """The last sample as one line, for the console while the soak runs."""
        last = self.samples[-1]
        converged = last["converged"]
        return (
            f"t={last['t']:.0f}s rss={last['rss_mib']} MiB fds={last['fds']} "
            f"log={last['log_bytes']} B "
            f"transitions={last['lease_transitions']} healthz p99={last['healthz_p99_ms']} ms "
            f"converged={sum(converged.values())}/{len(converged)}"
        )


def _spread(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "p50": round(statistics.median(values), 3),
        "p99": round(quantile(values, 0.99), 3),
        "max": round(max(values), 3),
    }


def _drift(values: Sequence[float]) -> dict[str, float]:
    """Min, max, end, and the change from the second tenth of the run to the last tenth
    (the first holds the samples before and while the loads start)."""
    tenth = max(1, len(values) // 10)
    first, last = values[tenth : 2 * tenth] or values[:tenth], values[-tenth:]
    return {
        "min": min(values),
        "max": max(values),
        "end": values[-1],
        "drift": round(statistics.mean(last) - statistics.mean(first), 1),
    }


def summarise(
    recorder: Recorder, steps: Sequence[dict[str, Any]], extra: dict[str, Any]
) -> dict[str, Any]:
    """The figures of the run: per replica RSS and open descriptors (min/max/end, drift), log
    bytes, /healthz; lease
    transitions and holder changes; convergence after churn steps; `extra` as given."""
    samples = recorder.samples
    replicas = range(len(recorder.soak.scalers))
    times = [t for s in steps for t in s["converged"].values() if t is not None]
    missed = sum(1 for s in steps for t in s["converged"].values() if t is None)
    by_kind: dict[str, list[float]] = {}
    for s in steps:
        by_kind.setdefault(s["step"], []).extend(
            t for t in s["converged"].values() if t is not None
        )
    converged = [all(s["converged"].values()) for s in samples if s["converged"]]
    return {
        "minutes": round(samples[-1]["t"] / 60, 1) if samples else 0,
        "rss_mib": [_drift([s["rss_mib"][i] for s in samples]) for i in replicas],
        "fds": [_drift([s["fds"][i] for s in samples]) for i in replicas],
        "log_bytes": [samples[-1]["log_bytes"][i] for i in replicas],
        "lease_transitions": samples[-1]["lease_transitions"] - samples[0]["lease_transitions"],
        "holder_changes": len(recorder.holders) - 1,
        "healthz_ms": [
            {
                **{k: _ms(v) for k, v in _spread(h.latencies()).items() if k != "n"},
                "n": len(h.samples),
                "failed_or_late": len(h.late()),
            }
            for h in recorder.health
        ],
        "churn_steps": len(steps),
        "convergence_s": _spread(times),
        "convergence_s_by_step": {k: _spread(v) for k, v in by_kind.items()},
        "not_converged_within_step": missed,
        "samples_all_converged": f"{sum(converged)}/{len(converged)}",
        **extra,
    }


def table(summary: dict[str, Any]) -> str:
    """The summary as aligned `figure  value` lines."""
    rows: list[tuple[str, str]] = [("minutes", str(summary["minutes"]))]
    for i, rss in enumerate(summary["rss_mib"]):
        rows.append(
            (
                f"RSS replica {i} (MiB)",
                f"min {rss['min']} max {rss['max']} end {rss['end']} "
                f"(last tenth - second tenth: {rss['drift']:+})",
            )
        )
    for i, fds in enumerate(summary.get("fds", ())):
        rows.append(
            (
                f"open descriptors replica {i}",
                f"min {fds['min']} max {fds['max']} end {fds['end']} "
                f"(last tenth - second tenth: {fds['drift']:+})",
            )
        )
    rows.append(
        (
            "lease transitions / holder changes",
            f"{summary['lease_transitions']} / {summary['holder_changes']}",
        )
    )
    conv = summary["convergence_s"]
    rows.append(
        (
            "convergence after churn (s)",
            f"n={conv['n']} p50 {conv.get('p50')} p99 {conv.get('p99')} max {conv.get('max')}",
        )
    )
    rows.append(("not converged within a step", str(summary["not_converged_within_step"])))
    rows.append(("samples with every target converged", summary["samples_all_converged"]))
    for i, h in enumerate(summary["healthz_ms"]):
        rows.append(
            (
                f"/healthz replica {i} (ms)",
                f"n={h['n']} p99 {h.get('p99')} max {h.get('max')} "
                f"failed or >= 2 s: {h['failed_or_late']}",
            )
        )
    rows.append(("log bytes per replica", " / ".join(map(str, summary["log_bytes"]))))
    keys = ("tenant_edits", "invalid_annotation_events", "node_lists", "flood", "slowloris")
    for key in (*keys, "errors"):
        if key in summary:
            rows.append((key.replace("_", " "), str(summary[key])))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"  {k.ljust(width)}  {v}" for k, v in rows)
