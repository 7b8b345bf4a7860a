"""kubectl against one cluster, with errors that carry kubectl's stderr."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path


class KubectlError(subprocess.CalledProcessError):
    def __str__(self) -> str:
        cmd = " ".join(self.cmd) if isinstance(self.cmd, list) else str(self.cmd)
        return f"{cmd!r} exited with {self.returncode}: {(self.stderr or '').strip()}"


class Kubectl:
    """Runs the kubectl found on PATH with a fixed kubeconfig and discovery cache."""

    def __init__(self, kubeconfig: Path, cache_dir: Path) -> None:
        self.kubeconfig = kubeconfig
        self.cache_dir = cache_dir
        self.path = shutil.which("kubectl")

    def __call__(
        self,
        *args: str,
        input: str | None = None,
        check: bool = True,
        timeout: float = 120.0,
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl; raises KubectlError (with stderr) if ``check`` and it fails."""
        if self.path is None:
            raise FileNotFoundError("kubectl is not on PATH")
        cmd = [
            self.path,
            f"--kubeconfig={self.kubeconfig}",
            f"--cache-dir={self.cache_dir}",
            *args,
        ]
        proc = subprocess.run(
            cmd,
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env={**os.environ, "KUBECONFIG": str(self.kubeconfig)},
        )
        if check and proc.returncode != 0:
            raise KubectlError(proc.returncode, cmd, proc.stdout, proc.stderr)
        return proc
