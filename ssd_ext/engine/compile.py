"""``--compile``: the detector's network compiled by TorchInductor for inference.

With ``freezing`` Inductor treats the weights as constants: oneDNN gets them
prepacked and runs every convolution with its ReLU fused, and autocast's weight
casts happen once instead of every batch. Constants are only right while the
weights stay put, so this is for testing a checkpoint (``tools/test.py``), never
for validation during training. Decoding and NMS stay eager: their shapes depend
on the data.
"""
import contextlib
from typing import Iterator

import torch
from mmengine.hooks import Hook

from ssd_ext.registry import HOOKS
from ssd_ext.utils.model import unwrap_model

COMPILED_PARTS = ('backbone', 'neck', 'bbox_head')


@contextlib.contextmanager
def inductor_freezing() -> Iterator[None]:
    """Inductor's ``freezing`` on for the calls inside the block, as it was after.

    torch 2.13 (docs/upstream.md) reads the flag while Dynamo traces a compiled module (the first
    call of each input shape): only then do the parameters become graph
    constants. A per-compile ``options={'freezing': True}`` reaches Inductor
    alone, after tracing, and leaves the weights graph inputs (nothing
    prepacked or fused). So the flag, which is process-wide, is set for the
    block only; this is the one place ssd_ext sets it.
    """
    import torch._inductor.config as inductor_config
    with inductor_config.patch(freezing=True):
        yield


def compile_network(detector: torch.nn.Module, **compile_kwargs) -> torch.nn.Module:
    """Compiles the backbone, neck and bbox head of ``detector`` (any MMDetection
    single-stage detector) with ``nn.Module.compile``; returns the detector.

    Each call of the detector (``detector(..., mode='predict')``, as the test
    loop makes) runs inside :func:`inductor_freezing`, through forward hooks;
    code that calls the parts directly wraps its calls in it. The first batch
    pays the compilation; a second batch size
    (a smaller last batch) compiles once more, with the batch dimension
    dynamic. Later batches run the compiled graphs.
    """
    for name in COMPILED_PARTS:
        part = getattr(detector, name, None)
        if part is not None:
            part.compile(**compile_kwargs)
    scope = contextlib.ExitStack()

    def enter(module, args) -> None:
        scope.enter_context(inductor_freezing())

    def leave(module, args, output) -> None:
        scope.close()

    detector.register_forward_pre_hook(enter)
    # always_call: the flag is restored when a call raises too.
    detector.register_forward_hook(leave, always_call=True)
    return detector


@HOOKS.register_module()
class CompileForTestHook(Hook):
    """Compiles the network before the test loop (after ``ChannelsLastHook``).

    Args:
        **compile_kwargs: passed to ``torch.compile`` (``mode``, ``dynamic``,
            ``options``...).
    """

    priority = 'LOW'

    def __init__(self, **compile_kwargs) -> None:
        self.compile_kwargs = compile_kwargs

    def before_test(self, runner) -> None:
        compile_network(unwrap_model(runner.model), **self.compile_kwargs)
