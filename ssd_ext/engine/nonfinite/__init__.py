"""The non-finite guard: a NaN/inf loss or gradient never reaches the weights.

``NonFiniteLossHook`` makes the optim wrappers skip such a step on every rank
(``guard``), then stops (``NonFiniteLossError``) or counts it; no checkpoint holds NaN/inf.
"""
from ssd_ext.engine.nonfinite.loss_hook import NonFiniteLossError, NonFiniteLossHook

__all__ = ['NonFiniteLossError', 'NonFiniteLossHook']
