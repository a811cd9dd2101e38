"""Training and testing fast on the hardware at hand, with the same results.

``--amp`` picks the precision the hardware runs fast (``precision``: bf16 on a
CPU with native bf16, fp32 on other CPUs, fp16 with loss scaling on a GPU)
through ``CPUAutocastOptimWrapper`` or ``SkipSafeAmpOptimWrapper`` (a step the
loss scaler skips cannot corrupt fused SGD's momentum); ``ChannelsLastHook``
runs the convolutions in NHWC; ``--compile`` compiles the network for testing
(``CompileForTestHook``, ``compile_network``).
"""
from ssd_ext.engine.speed.amp_optim_wrapper import SkipSafeAmpOptimWrapper
from ssd_ext.engine.speed.channels_last import ChannelsLastHook
from ssd_ext.engine.speed.compile import CompileForTestHook, compile_network
from ssd_ext.engine.speed.cpu_optim_wrapper import CPUAutocastOptimWrapper

__all__ = [
    'ChannelsLastHook', 'CompileForTestHook', 'CPUAutocastOptimWrapper', 'SkipSafeAmpOptimWrapper',
    'compile_network'
]
