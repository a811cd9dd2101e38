"""Pretrained weights: found offline, checksummed, and loaded strictly and
weights-only by ``StrictPretrained``, the weight initialiser configs name.
"""
from ssd_ext.models.pretrained.strict_init import StrictPretrained

__all__ = ['StrictPretrained']
