"""SSD as an MMDetection 3.x extension.

Importing ``ssd_ext`` registers its modules in MMDetection's registries and lets
``torch.load(weights_only=True)`` read MMEngine's own checkpoints (so ``--resume``
works on torch >= 2.6 without turning weights-only loading off).
"""
from ssd_ext.utils.checkpoint import allow_mmengine_checkpoint_types

allow_mmengine_checkpoint_types()

from ssd_ext import data, engine, evaluation, models  # noqa: E402,F401  (registers modules)

__version__ = '0.1.0'
