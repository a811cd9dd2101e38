"""The dataset/model class-count rule; a Runner stopped by
``DatasetModelConsistencyHook`` before the first step is in ``tests/data/test_bad_data.py``."""
import pytest
import torch

from ssd_ext.data import CheckedCocoDataset
from ssd_ext.data.class_consistency import DatasetModelMismatchError, check_consistency


def test_consistency_check_names_numbers_and_keys():
    class Head:
        num_classes = 3

    class Model(torch.nn.Module):
        bbox_head = Head()

    class Data:
        metainfo = dict(classes=CheckedCocoDataset.METAINFO['classes'])

    with pytest.raises(DatasetModelMismatchError) as info:
        check_consistency(Model(), [('train_dataloader.dataset', Data())])
    msg = str(info.value)
    assert 'has 80 classes but model.bbox_head.num_classes = 3' in msg
    assert 'train_dataloader.dataset.metainfo' in msg
    Data.metainfo = dict(classes=('a', 'b', 'c'))
    check_consistency(Model(), [('train_dataloader.dataset', Data())])
