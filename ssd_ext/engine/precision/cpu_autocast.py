"""Mixed precision training on the CPU.

MMEngine 0.10.7's ``AmpOptimWrapper`` asserts a GPU (docs/upstream.md). On CPUs with native bf16
(e.g. AMX) autocast to bfloat16 is the fast path; bf16 keeps fp32's exponent
range, so no loss scaling is needed and the update is a plain fp32 step.
"""
from contextlib import contextmanager

import torch
from mmengine.optim import OptimWrapper
from torch import nn

from ssd_ext.registry import OPTIM_WRAPPERS


@OPTIM_WRAPPERS.register_module()
class CPUAutocastOptimWrapper(OptimWrapper):
    """``OptimWrapper`` whose forward passes run under ``torch.autocast('cpu')``.

    Args:
        dtype: Autocast dtype, ``'bfloat16'`` (default) or ``'float16'``.
    """

    def __init__(self, *args, dtype: str = 'bfloat16', **kwargs) -> None:
        if dtype not in ('bfloat16', 'float16'):
            raise ValueError(f"optim_wrapper.dtype must be 'bfloat16' or 'float16', got "
                             f'{dtype!r}')
        super().__init__(*args, **kwargs)
        self.cast_dtype = getattr(torch, dtype)

    @contextmanager
    def optim_context(self, model: nn.Module):
        with super().optim_context(model), torch.autocast('cpu', dtype=self.cast_dtype):
            yield
