"""Lets a Runner load and resume MMEngine's checkpoints weights-only.

torch >= 2.6 loads with ``weights_only=True`` by default, and MMEngine 0.10.7's
``load_checkpoint`` and ``resume`` keep that default, so a checkpoint's message
hub and scheduler state are refused unless their types are on torch's
allow-list (``ssd_ext/utils/checkpoint_io.py``). MMEngine 0.10.7 calls every
hook's ``before_run`` before ``load_or_resume``, in ``train``, ``val`` and
``test`` alike (docs/upstream.md).
"""
from mmengine.hooks import Hook

from ssd_ext.registry import HOOKS
from ssd_ext.utils.checkpoint_io import allow_mmengine_checkpoint_types


@HOOKS.register_module()
class AllowCheckpointTypesHook(Hook):
    """Allow-lists MMEngine's checkpoint types before ``load_from`` or ``resume``."""

    def before_run(self, runner) -> None:
        allow_mmengine_checkpoint_types()
