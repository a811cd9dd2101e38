"""Test-only entry point: ``python stalled_save.py TARGET MARKER`` starts an
atomic checkpoint save that stalls mid-write until the test SIGKILLs it."""
import sys
import time

import torch

from ssd_ext.utils.checkpoint_io import atomic_torch_save


class Stall:
    """Pickling it means the save is under way: tell the test, wait to be killed."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        open(self.marker, 'w').close()
        time.sleep(600)
        return (int, (0,))


def main(target: str, marker: str) -> None:
    atomic_torch_save({'v': 2, 'big': torch.ones(1 << 20), 'stall': Stall(marker)}, target)


if __name__ == '__main__':
    main(*sys.argv[1:3])
