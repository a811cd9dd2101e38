"""What this machine can do, for choosing precision and workers and for
labelling measurements: the CPUs this process may use, instruction sets,
native bf16, a one-line description."""
import math
import os
import platform
from typing import Optional

import torch


def _cpuinfo(field: str) -> Optional[str]:
    """The value of ``/proc/cpuinfo``'s first ``field`` line (Linux), or ``None``."""
    try:
        with open('/proc/cpuinfo') as f:
            return next(line.split(':', 1)[1].strip() for line in f
                        if line.startswith(field))
    except (OSError, StopIteration, IndexError):
        return None


def cpu_flags() -> set:
    """Names of the instruction sets this CPU has (``'avx2'``, ``'amx_bf16'``...)."""
    if hasattr(torch.cpu, 'get_capabilities'):
        return {k for k, v in torch.cpu.get_capabilities().items() if v is True}
    return set((_cpuinfo('flags') or '').split())


def cpu_has_native_bf16() -> bool:
    """Whether this CPU has bf16 instructions (AMX-BF16 or AVX512-BF16) and
    oneDNN may use them.

    The instruction flags come from ``torch.cpu.get_capabilities()`` (torch >=
    2.13; ``/proc/cpuinfo`` before); oneDNN's own bf16 check is not enough alone
    (it also says yes for any AVX-512 core, which converts bf16 through fp32),
    but it honours ``ONEDNN_MAX_CPU_ISA``, so emulating an older CPU answers
    ``False``.
    """
    return (bool(cpu_flags() & {'amx_bf16', 'avx512_bf16'})
            and torch.backends.mkldnn.is_available()
            and torch.ops.mkldnn._is_mkldnn_bf16_supported())


def machine_description(device: str = 'cpu') -> str:
    """The processor a measurement came from, e.g. ``'AMD EPYC (ATen AVX2,
    native bf16: no)'`` or the GPU's name, for benchmark output."""
    if device == 'cuda':
        return torch.cuda.get_device_name()
    name = _cpuinfo('model name') or platform.processor() or 'unknown CPU'
    native = 'yes' if cpu_has_native_bf16() else 'no'
    return (f'{name} (ATen {torch.backends.cpu.get_cpu_capability()}, '
            f'native bf16: {native})')


def _cgroup_cpu_limit() -> Optional[float]:
    """CPUs a container's quota allows (cgroup v2 ``cpu.max`` or v1
    ``cpu.cfs_quota_us``), None without a quota. Docker's ``--cpus`` and
    Kubernetes' limits set it, not the affinity mask."""
    try:
        with open('/sys/fs/cgroup/cpu.max') as f:
            quota, period = f.read().split()[:2]
    except (OSError, ValueError):
        try:
            with open('/sys/fs/cgroup/cpu/cpu.cfs_quota_us') as f:
                quota = f.read().strip()
            with open('/sys/fs/cgroup/cpu/cpu.cfs_period_us') as f:
                period = f.read().strip()
        except OSError:
            return None
    if quota in ('max', '-1'):
        return None
    return int(quota) / int(period)


def available_cpus() -> int:
    """CPUs this process may run on: its affinity mask (``taskset``, cpusets,
    Slurm's binding), capped by a container's CPU quota."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    limit = _cgroup_cpu_limit()
    return max(1, min(cpus, math.ceil(limit))) if limit else cpus
