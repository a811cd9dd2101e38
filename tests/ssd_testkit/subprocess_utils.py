"""Waiting on a subprocess the tests kill at a chosen moment."""
import subprocess
import time
from typing import Callable


def wait_for(condition: Callable[[], bool], proc: subprocess.Popen, timeout: float,
             what: str) -> None:
    """Polls ``condition`` until true; fails if ``proc`` ends or time runs out."""
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f'process ended ({proc.returncode}) before {what}')
        if time.monotonic() > deadline:
            raise AssertionError(f'timed out waiting for {what}')
        time.sleep(0.05)
