"""The bare detector behind MMEngine's model wrappers (DDP, FSDP...)."""
from mmengine.model import is_model_wrapper
from torch import nn


def unwrap_model(model: nn.Module) -> nn.Module:
    """``model.module`` for an MMEngine model wrapper, else ``model`` itself.

    Hooks that change or inspect the detector (memory format, compilation,
    parameter names) must reach the module the wrapper holds.
    """
    return model.module if is_model_wrapper(model) else model
