"""Pretrained weights: where they come from, how they are checked, how they load.

- ``known_weights.py``: the published files SSD starts from (URL, file name, the
  input each expects), named in error messages and the converters' output
- ``locate.py``: resolves a checkpoint name (a path, an ``open-mmlab://`` name or
  a URL) to a local file, offline: nothing is ever downloaded
- ``checksum.py``: the sha256 a file must have (from the config, the hash prefix
  in its name, or a ``.sha256`` file beside it) and its check
- ``strict_init.py``: :class:`StrictPretrained`, the weight initialiser configs
  name (``init_cfg=dict(type='StrictPretrained', ...)``): strict, weights-only,
  finite, checksummed, with the tensors a fine-tune re-initialises logged

ImageNet VGG16 files in other layouts convert to the backbone's with
``models/weight_conversion/imagenet_vgg16.py``.
"""
from ssd_ext.models.pretrained.strict_init import StrictPretrained

__all__ = ['StrictPretrained']
