"""Using a trained detector from Python: :func:`build_detector` (config and
checkpoint to a model in eval mode)."""
from ssd_ext.apis.inference import build_detector

__all__ = ['build_detector']
