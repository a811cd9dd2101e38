"""``DatasetModelConsistencyHook``: the class-count rule of
:mod:`ssd_ext.data.class_consistency`, checked before the first step."""
from mmengine.hooks import Hook

from ssd_ext.data.class_consistency import check_consistency
from ssd_ext.registry import HOOKS


@HOOKS.register_module()
class DatasetModelConsistencyHook(Hook):
    """Raises before the first iteration when a dataset's ``len(classes)``
    differs from the head's ``num_classes``: the train and val datasets before
    training, the val or test dataset before validating or testing. Config::

        custom_hooks = [dict(type='DatasetModelConsistencyHook')]
    """

    priority = 'VERY_HIGH'

    def before_train(self, runner) -> None:
        # MMEngine 0.10.7: Runner.train() builds the val loop (if any) before this
        # hook runs, so reading it here builds nothing (docs/upstream.md).
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
