"""MMDetection's builtin SSD as a reference, for the benchmarks beside this file
and for the equivalence tests (which load it from here: tools/ is no package).

MMDetection 3.3.0's ``SSDHead`` cannot predict ("'SSDHead' object has no
attribute 'loss_cls'": ``BaseDenseHead`` reads ``self.loss_cls`` but
``SSDHead`` never creates it; docs/upstream.md). The reference instance gets a
parameter-free ``loss_cls`` of its own; MMDetection itself is left unpatched.
"""
import os.path as osp
from typing import List, Tuple

from mmengine.config import Config
from torch import nn


class SoftmaxLossPlaceholder(nn.Module):
    """Answers ``BaseDenseHead``'s attribute probes like a softmax CE loss."""
    use_sigmoid = False
    custom_cls_channels = False


def mmdet_ssd_config(input_size: int = 300) -> Config:
    """MMDetection's packaged ``ssd{300,512}_coco.py`` config, without the
    ImageNet-pretrained backbone (nothing can be downloaded)."""
    import mmdet
    path = osp.join(osp.dirname(mmdet.__file__), '.mim', 'configs', 'ssd',
                    f'ssd{input_size}_coco.py')
    cfg = Config.fromfile(path)
    cfg.model.backbone.init_cfg = None
    return cfg


def build_mmdet_ssd(input_size: int = 300, num_classes: int = 80) -> nn.Module:
    """A randomly initialised MMDetection SSD that can run ``predict``."""
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    register_all_modules(init_default_scope=True)
    cfg = mmdet_ssd_config(input_size)
    cfg.model.bbox_head.num_classes = num_classes
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.bbox_head.loss_cls = SoftmaxLossPlaceholder()
    return model


def mmdet_prior_sizes(model: nn.Module) -> Tuple[List[float], List[float]]:
    """The integer min/max prior sizes MMDetection's generator ended up with."""
    gen = model.bbox_head.prior_generator
    min_sizes = [float(s) for s in gen.base_sizes]
    max_sizes = [float(round(s * sc[1].item() ** 2)) for s, sc in zip(gen.base_sizes, gen.scales)]
    return min_sizes, max_sizes
