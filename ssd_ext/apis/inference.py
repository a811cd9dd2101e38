"""Building a detector for inference from its config and checkpoint."""
from typing import Optional, Union

from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import load_state_dict
from torch import nn

from ssd_ext.models.weight_conversion import unwrap_state_dict
from ssd_ext.registry import MODELS
from ssd_ext.utils.checkpoint_io import safe_load

# Keys of a model saved inside a DistributedDataParallel wrapper (MMEngine's
# load_checkpoint strips the same prefix).
DDP_PREFIX = 'module.'


def build_detector(config: Union[str, Config], checkpoint: Optional[str] = None,
                   device: str = 'cpu') -> nn.Module:
    """Builds the config's detector in eval mode, with weights loaded
    weights-only (:func:`ssd_ext.utils.checkpoint_io.safe_load`) and strictly
    (every parameter and buffer, no others) from a state dict, or a checkpoint
    holding one as ``state_dict`` or ``model``. The config is kept as
    ``model.cfg``."""
    cfg = Config.fromfile(config) if isinstance(config, str) else config
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    model = MODELS.build(cfg.model)
    if checkpoint is not None:
        state_dict = unwrap_state_dict(safe_load(checkpoint), checkpoint)
        # Renamed in place: the loaded dict keeps torch's per-module metadata.
        for key in [k for k in state_dict if k.startswith(DDP_PREFIX)]:
            state_dict[key[len(DDP_PREFIX):]] = state_dict.pop(key)
        load_state_dict(model, state_dict, strict=True)
    model.cfg = cfg
    return model.to(device).eval()
