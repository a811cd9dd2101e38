"""``--compile``: the detector's network compiled by TorchInductor for inference.

With ``freezing`` Inductor treats the weights as constants: oneDNN gets them
prepacked and runs every convolution with its ReLU fused, and autocast's weight
casts happen once instead of every batch. Constants are only right while the
weights stay put, so this is for testing a checkpoint (``tools/test.py``), never
for validation during training. Decoding and NMS stay eager: their shapes depend
on the data.
"""
import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from ssd_ext.registry import HOOKS


def compile_network(detector: torch.nn.Module, **compile_kwargs) -> torch.nn.Module:
    """Compiles ``detector.extract_feat`` and ``detector.bbox_head.forward`` in place
    (any MMDetection single-stage detector); returns the detector.

    The first batch pays the compilation (tens of seconds on a 2-core CPU); a
    second batch size (a smaller last batch) compiles once more, with the batch
    dimension dynamic. Later batches run the compiled graphs.
    """
    import torch._inductor.config as inductor_config

    # Process-wide: freezing is read when the graph is lowered (the first call),
    # which torch.compile(options=...) does not reach.
    inductor_config.freezing = True
    detector.extract_feat = torch.compile(detector.extract_feat, **compile_kwargs)
    head = detector.bbox_head
    head.forward = torch.compile(head.forward, **compile_kwargs)
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
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        compile_network(model, **dict(self.compile_kwargs))
