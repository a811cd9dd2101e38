"""The non-finite guard: a NaN/inf loss or gradient never reaches the weights.

``NonFiniteLossHook`` installs the ``guard`` that holds back such an optimizer
step on every rank, names its likely cause (``diagnosis``: optimizer state,
data, loss, gradient or another rank), then stops with ``NonFiniteLossError``
or skips the batch; it also refuses to save a checkpoint holding NaN/inf
(``checkpoint_scan``). ``tensors`` holds the finiteness checks they share.
"""
from ssd_ext.engine.nonfinite.loss_hook import NonFiniteLossError, NonFiniteLossHook

__all__ = ['NonFiniteLossError', 'NonFiniteLossHook']
