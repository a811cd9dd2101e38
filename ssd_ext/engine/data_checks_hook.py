"""Checks, before a run starts, that the datasets and the model agree.

A dataset does not know the model, so a dataset whose ``classes`` do not match
the head's ``num_classes`` is only visible once both are built: typically a
config that sets ``model.bbox_head.num_classes=3`` but forgets
``metainfo=dict(classes=...)`` in a dataset, which then silently uses the 80
COCO classes (labels >= 3 index out of the head's scores, or classes are never
learned). :class:`DatasetModelConsistencyHook` compares them before the first
iteration (``before_train``: the train and val datasets; ``before_val`` and
``before_test`` for validation or testing alone) and raises naming both numbers
and the config keys to fix. ``tools/analysis/check_dataset.py`` reports the same
mismatch through :func:`classes_problem`. Config::

    custom_hooks = [dict(type='DatasetModelConsistencyHook')]
"""
from typing import Any, List, Optional, Sequence, Tuple

from mmengine.hooks import Hook

from ssd_ext.registry import HOOKS
from ssd_ext.utils.model import unwrap_model


class DatasetModelMismatchError(ValueError):
    """A dataset's classes do not match the model's number of classes."""


def model_num_classes(model: Any) -> Tuple[Optional[int], str]:
    """``num_classes`` of the model's detection head and its config key."""
    model = unwrap_model(model)
    head = getattr(model, 'bbox_head', None)
    if head is not None and isinstance(getattr(head, 'num_classes', None), int):
        return head.num_classes, 'model.bbox_head.num_classes'
    if isinstance(getattr(model, 'num_classes', None), int):
        return model.num_classes, 'model.num_classes'
    return None, ''


def classes_problem(key: str, classes: Sequence[str], num_classes: Optional[int],
                    model_key: str) -> Optional[str]:
    """What is wrong when the dataset at config ``key`` lists ``classes`` but
    the model (``model_key``) has ``num_classes``; ``None`` when they agree or
    the model's number is unknown."""
    if num_classes is None or len(classes) == num_classes:
        return None
    classes = tuple(classes)
    return (f'{key} has {len(classes)} classes but {model_key} = {num_classes}. '
            f'{key}.metainfo.classes = {classes[:10]}'
            f'{" ..." if len(classes) > 10 else ""}. Set '
            f'{model_key}={len(classes)}, or list the {num_classes} classes of the '
            f'model in {key}.metainfo=dict(classes=(...)) (without it a '
            f'CocoDataset uses the 80 COCO classes).')


def check_consistency(model: Any, datasets: List[Tuple[str, Any]]) -> None:
    """Raises :class:`DatasetModelMismatchError` naming every dataset (given as
    ``(config key, dataset)``) whose number of classes differs from the model's."""
    num_classes, model_key = model_num_classes(model)
    problems = []
    for key, dataset in datasets:
        classes = (getattr(dataset, 'metainfo', None) or {}).get('classes')
        problem = None if classes is None else classes_problem(key, classes, num_classes,
                                                               model_key)
        if problem:
            problems.append(problem)
    if problems:
        raise DatasetModelMismatchError('\n'.join(problems))


@HOOKS.register_module()
class DatasetModelConsistencyHook(Hook):
    """Raises before the first iteration when a dataset's ``len(classes)``
    differs from the head's ``num_classes``: the train and val datasets before
    training, the val or test dataset before validating or testing."""

    priority = 'VERY_HIGH'

    def before_train(self, runner) -> None:
        # Runner.train() builds the val loop (if any) before this hook runs, so
        # reading it here builds nothing.
        datasets = [('train_dataloader.dataset', runner.train_loop.dataloader.dataset)]
        if runner.val_loop is not None:
            datasets.append(('val_dataloader.dataset', runner.val_loop.dataloader.dataset))
        check_consistency(runner.model, datasets)

    def before_val(self, runner) -> None:
        check_consistency(runner.model,
                          [('val_dataloader.dataset', runner.val_loop.dataloader.dataset)])

    def before_test(self, runner) -> None:
        check_consistency(runner.model,
                          [('test_dataloader.dataset', runner.test_loop.dataloader.dataset)])


__all__ = ['DatasetModelConsistencyHook', 'DatasetModelMismatchError',
           'check_consistency', 'classes_problem', 'model_num_classes']
