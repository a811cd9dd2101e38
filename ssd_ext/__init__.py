"""SSD as an MMDetection 3.x extension: importing ``ssd_ext`` registers its modules
in MMDetection's registries. Letting weights-only loading read MMEngine's own
checkpoints is a separate, explicit step (``ssd_ext/utils/checkpoint_io.py``).
"""
from ssd_ext import data, engine, evaluation, models  # noqa: F401  (registers modules)

__version__ = '0.1.0'
