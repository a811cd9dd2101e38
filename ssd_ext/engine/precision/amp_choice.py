"""What ``--amp`` means on this machine: a precision chosen by the hardware.

bf16 autocast pays only on CPUs that compute bf16 natively (AMX-BF16 or
AVX512-BF16). Elsewhere oneDNN converts every bf16 convolution through fp32,
many times slower than fp32 (docs/benchmarks.md), so there ``--amp`` trains
and tests in fp32, and says so. On a GPU it is CUDA AMP (fp16 with dynamic loss
scaling, MMDetection's ``--amp``).

To reproduce an AVX2-only CPU on a newer one, start the process with
``ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2``: oneDNN then reports no
native bf16 and runs (slowly) as on such a CPU.
"""
from typing import Optional

import torch
from mmengine.logging import print_log

from ssd_ext.utils.machine import cpu_has_native_bf16, machine_description

AMP_DTYPES = ('auto', 'bfloat16', 'float16')


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


if __name__ == '__main__':
    # python -m ssd_ext.engine.precision.amp_choice: what --amp does on this machine.
    print(machine_description('cuda' if torch.cuda.is_available() else 'cpu'))
    cuda = torch.cuda.is_available()
    print(describe_amp_choice('auto', resolve_amp_dtype('auto', cuda), cuda))
