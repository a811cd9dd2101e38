"""What ``--amp`` means on this machine: a precision chosen by the hardware.

bf16 autocast pays only on CPUs that compute bf16 natively (AMX-BF16 or
AVX512-BF16). Elsewhere oneDNN converts every bf16 convolution through fp32:
one training step of the previous (full-width) quickstart model took 141 s
under bf16 autocast and 6.9 s in fp32 on a 2-core AVX2-only AMD EPYC (Zen 1).
So on such a CPU ``--amp`` trains and tests in fp32, and says so. On a GPU it
is CUDA AMP (fp16 with dynamic loss scaling, MMDetection's ``--amp``).

To reproduce an AVX2-only CPU on a newer one, start the process with
``ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2``: oneDNN then reports no
native bf16 and runs (slowly) as on such a CPU.
"""
from typing import Optional

import torch
from mmengine.logging import print_log

AMP_DTYPES = ('auto', 'bfloat16', 'float16')


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


def resolve_amp_dtype(requested: str = 'auto', cuda: Optional[bool] = None) -> Optional[str]:
    """The autocast dtype ``--amp --amp-dtype REQUESTED`` uses, or ``None`` for fp32.

    ``'auto'``: ``'float16'`` on a GPU, ``'bfloat16'`` on a CPU with native bf16,
    ``None`` on any other CPU. An explicit dtype is always honoured (forcing bf16
    on a CPU without it is allowed, and slow).

    Args:
        cuda: Whether the run is on a GPU; ``None`` asks ``torch.cuda``.
    """
    if requested not in AMP_DTYPES:
        raise ValueError(f'amp dtype must be one of {AMP_DTYPES}, got {requested!r}')
    if cuda is None:
        cuda = torch.cuda.is_available()
    if requested != 'auto':
        return requested
    if cuda:
        return 'float16'
    return 'bfloat16' if cpu_has_native_bf16() else None


def describe_amp_choice(requested: str, dtype: Optional[str], cuda: bool) -> str:
    """The one log line that says what ``--amp`` chose and why."""
    if cuda:
        return f'--amp: CUDA autocast to {dtype}'
    if dtype is None:
        return ('--amp: fp32 on this CPU: it has no native bf16 (AMX or AVX512-BF16), '
                'where bf16 autocast is many times slower than fp32; '
                '--amp-dtype bfloat16 forces it')
    # 'auto' chooses bf16 on a CPU only where it is native.
    why = 'native bf16 on this CPU' if requested == 'auto' else f'--amp-dtype {requested}'
    return f'--amp: CPU autocast to {dtype} ({why})'


def log_amp_choice(requested: str, dtype: Optional[str], cuda: bool) -> None:
    print_log(describe_amp_choice(requested, dtype, cuda), logger='current')


def channels_last_pays(training: bool, cuda: Optional[bool] = None) -> bool:
    """Whether ``--channels-last`` speeds this run up here.

    NHWC is oneDNN's and cuDNN's fast layout for inference everywhere, and for
    training on GPUs and AVX-512 CPUs. On AVX2-only CPUs oneDNN's NHWC backward
    convolutions are slower: an SSD300 fp32 training step at batch 8 ran at 0.83
    img/s in channels_last against 0.92 in NCHW (2-core AMD EPYC Zen 5 emulating
    AVX2), while inference gained (3.25 vs 2.75 img/s).
    """
    if cuda is None:
        cuda = torch.cuda.is_available()
    return (cuda or not training
            or torch.backends.cpu.get_cpu_capability().startswith('AVX512'))


def resolve_channels_last(requested: Optional[bool], amp_dtype: Optional[str],
                          cuda: Optional[bool] = None) -> bool:
    """Whether ``--channels-last`` / ``--no-channels-last`` (``requested``) or,
    with neither (``None``), the default asks for NHWC.

    The default is NHWC under CUDA autocast: cuDNN's fp16/bf16 tensor-core
    convolutions are NHWC kernels, so an NCHW model pays a transpose around
    every conv; NCHW elsewhere (on CPUs the flag stays a choice, see
    :func:`channels_last_pays`).
    """
    if requested is not None:
        return requested
    if cuda is None:
        cuda = torch.cuda.is_available()
    return cuda and amp_dtype is not None


def machine_description(device: str = 'cpu') -> str:
    """The processor a measurement came from, e.g. ``'AMD EPYC (ATen AVX2,
    native bf16: no)'`` or the GPU's name, for benchmark output."""
    if device == 'cuda':
        return torch.cuda.get_device_name()
    import platform
    name = _cpuinfo('model name') or platform.processor() or 'unknown CPU'
    native = 'yes' if cpu_has_native_bf16() else 'no'
    return (f'{name} (ATen {torch.backends.cpu.get_cpu_capability()}, '
            f'native bf16: {native})')


if __name__ == '__main__':
    # python -m ssd_ext.engine.speed.precision: what --amp does on this machine.
    print(machine_description('cuda' if torch.cuda.is_available() else 'cpu'))
    cuda = torch.cuda.is_available()
    print(describe_amp_choice('auto', resolve_amp_dtype('auto', cuda), cuda))
