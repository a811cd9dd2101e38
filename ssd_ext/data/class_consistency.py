"""Rule: a dataset's ``len(metainfo['classes'])`` equals the head's ``num_classes``.

A config that sets ``model.bbox_head.num_classes=3`` but forgets
``metainfo=dict(classes=...)`` leaves a CocoDataset on the 80 COCO classes
(labels >= 3 index out of the head's scores). Checked before the first step by
``DatasetModelConsistencyHook`` and by ``tools/analysis/check_dataset.py``.
"""
from typing import Any, List, Optional, Sequence, Tuple

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
