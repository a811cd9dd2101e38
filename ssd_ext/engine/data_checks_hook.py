"""Checks, before a run starts, that the datasets and the model agree.

A dataset does not know the model, so a dataset whose ``classes`` do not match
the head's ``num_classes`` is only visible once both are built: typically a
config that sets ``model.bbox_head.num_classes=3`` but forgets
``metainfo=dict(classes=...)`` in a dataset, which then silently uses the 80
COCO classes (labels >= 3 index out of the head's scores, or classes are never
learned). :class:`DatasetModelConsistencyHook` compares them in ``before_run``
(after the runner built the loops of this run, before weights are loaded and
before the first iteration) and raises naming both numbers and the config keys
to fix. Config::

    custom_hooks = [dict(type='DatasetModelConsistencyHook')]
"""
from typing import Any, List, Optional, Tuple

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import BaseLoop

from ssd_ext.registry import HOOKS


class DatasetModelMismatchError(ValueError):
    """A dataset's classes do not match the model's number of classes."""


def model_num_classes(model: Any) -> Tuple[Optional[int], str]:
    """``num_classes`` of the model's detection head and its config key."""
    if is_model_wrapper(model):
        model = model.module
    head = getattr(model, 'bbox_head', None)
    if head is not None and isinstance(getattr(head, 'num_classes', None), int):
        return head.num_classes, 'model.bbox_head.num_classes'
    if isinstance(getattr(model, 'num_classes', None), int):
        return model.num_classes, 'model.num_classes'
    return None, ''


def dataset_classes(dataset: Any) -> Optional[Tuple[str, ...]]:
    metainfo = getattr(dataset, 'metainfo', None) or {}
    classes = metainfo.get('classes')
    return tuple(classes) if classes is not None else None


def check_consistency(model: Any, datasets: List[Tuple[str, Any]]) -> None:
    """Raises :class:`DatasetModelMismatchError` for the first dataset (given as
    ``(config key, dataset)``) whose number of classes differs from the model's."""
    num_classes, model_key = model_num_classes(model)
    if num_classes is None:
        return
    problems = []
    for key, dataset in datasets:
        classes = dataset_classes(dataset)
        if classes is None or len(classes) == num_classes:
            continue
        problems.append(
            f'{key} has {len(classes)} classes but {model_key} = {num_classes}. '
            f'{key}.metainfo.classes = {classes[:10]}'
            f'{" ..." if len(classes) > 10 else ""}. Set '
            f'{model_key}={len(classes)}, or list the {num_classes} classes of the '
            f'model in {key}.metainfo=dict(classes=(...)) (without it a '
            f'CocoDataset uses the 80 COCO classes).')
    if problems:
        raise DatasetModelMismatchError('\n'.join(problems))


@HOOKS.register_module()
class DatasetModelConsistencyHook(Hook):
    """Raises before training/testing when a dataset's ``len(classes)`` differs
    from the head's ``num_classes``; checks the train, val and test datasets
    this run has built."""

    priority = 'VERY_HIGH'

    def before_run(self, runner) -> None:
        datasets = []
        for name in ('train', 'val', 'test'):
            loop = getattr(runner, f'_{name}_loop', None)
            if isinstance(loop, BaseLoop) and hasattr(loop, 'dataloader'):
                datasets.append((f'{name}_dataloader.dataset', loop.dataloader.dataset))
        check_consistency(runner.model, datasets)


__all__ = ['DatasetModelConsistencyHook', 'DatasetModelMismatchError',
           'check_consistency', 'model_num_classes', 'dataset_classes']
