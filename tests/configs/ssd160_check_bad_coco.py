# configs/quickstart/ssd160_shapes.py pointed at the injected COCO copy of
# tests/ssd_testkit/faulty_coco.py (bad_copy: <root>/annotations/train.json and
# <root>/train2017/), for tools/analysis/check_dataset.py in
# tests/data/test_check_dataset.py. The model keeps the base's 3 classes.
# Set by the tests (faulty_coco.write_tool_config), as they live in tmp folders:
# - train_dataloader.dataset.data_root: the copy's folder;
# - train_dataloader.dataset.metainfo.classes: its 7 categories
#   (faulty_coco.CLASSES, in the file's category order).
_base_ = '../../configs/quickstart/ssd160_shapes.py'

train_dataloader = dict(
    dataset=dict(type='CheckedCocoDataset', ann_file='annotations/train.json',
                 data_prefix=dict(img='train2017/')))
