"""SSD as an MMDetection 3.x extension.

Importing ``ssd_ext`` registers its modules in MMDetection's registries. Letting
``torch.load(weights_only=True)`` read MMEngine's own checkpoints is a separate,
explicit step (``ssd_ext/utils/checkpoint_io.py``), taken by the configs' hook and
by ssd_ext's own loading.
"""
from ssd_ext import data, engine, evaluation, models  # noqa: F401  (registers modules)

__version__ = '0.1.0'
