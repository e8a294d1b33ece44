"""Helpers for tests that start their own server processes."""
from __future__ import annotations

import subprocess


def stop_process(proc: subprocess.Popen) -> None:
    """Terminate, then kill if it does not go within 10 s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
