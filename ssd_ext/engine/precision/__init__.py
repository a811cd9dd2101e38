"""``--amp``: the autocast dtype the hardware runs fast, and the optim wrappers
that train under it."""
from ssd_ext.engine.precision.cpu_autocast import CPUAutocastOptimWrapper
from ssd_ext.engine.precision.skip_safe_amp import SkipSafeAmpOptimWrapper

__all__ = ['CPUAutocastOptimWrapper', 'SkipSafeAmpOptimWrapper']
