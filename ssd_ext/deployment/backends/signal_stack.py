"""The calling thread's alternate signal stack, put back after a call that
replaces it.

OpenVINO 2026.4's CPU plugin, when it compiles a model, points the calling
thread's alternate signal stack (``sigaltstack``) at a buffer of its own and
unmaps that buffer with the compiled model (docs/upstream.md). CPython
installs every Python signal handler with ``SA_ONSTACK``, so the next signal
that thread takes afterwards
(the SIGCHLD of a DataLoader worker or subprocess that exits) is written to
unmapped memory and the process dies with SIGSEGV (``si_code`` SI_KERNEL).
"""
import contextlib
import ctypes
import os
import sys
from typing import Iterator, Tuple


class _StackT(ctypes.Structure):  # Linux ``stack_t``
    _fields_ = [('ss_sp', ctypes.c_void_p), ('ss_flags', ctypes.c_int),
                ('ss_size', ctypes.c_size_t)]


def _sigaltstack(new=None) -> _StackT:
    """Sets the thread's alternate signal stack to ``new`` (unless ``None``);
    returns the one before."""
    libc = ctypes.CDLL(None, use_errno=True)
    old = _StackT()
    if libc.sigaltstack(None if new is None else ctypes.byref(new), ctypes.byref(old)):
        err = ctypes.get_errno()
        raise OSError(err, f'sigaltstack: {os.strerror(err)}')
    return old


def signal_stack() -> Tuple[int, int, int]:
    """``(address, flags, size)`` of the calling thread's alternate signal
    stack (Linux; ``(0, 0, 0)`` elsewhere)."""
    if not sys.platform.startswith('linux'):
        return 0, 0, 0
    stack = _sigaltstack()
    return stack.ss_sp or 0, stack.ss_flags, stack.ss_size


@contextlib.contextmanager
def keeps_signal_stack() -> Iterator[None]:
    """Runs the block, then gives the calling thread back the alternate signal
    stack it had before (a no-op outside Linux)."""
    if not sys.platform.startswith('linux'):
        yield
        return
    saved = _sigaltstack()
    try:
        yield
    finally:
        now = _sigaltstack()
        if (now.ss_sp, now.ss_flags, now.ss_size) != (saved.ss_sp, saved.ss_flags,
                                                       saved.ss_size):
            _sigaltstack(saved)
