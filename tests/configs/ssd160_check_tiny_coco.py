# configs/quickstart/ssd160_shapes.py pointed at the clean tiny_coco of the shared
# data (annotations/instances_train2017.json, train2017/) with COCO's 80 classes
# (metainfo=None: the dataset's own), for tools/analysis/check_dataset.py in
# tests/data/test_check_dataset.py, which expects no problem in it.
# Set by the test (--cfg-options): train_dataloader.dataset.data_root, the
# tiny_coco folder of the shared data.
_base_ = '../../configs/quickstart/ssd160_shapes.py'

model = dict(bbox_head=dict(num_classes=80))
train_dataloader = dict(
    dataset=dict(ann_file='annotations/instances_train2017.json',
                 data_prefix=dict(img='train2017/'), metainfo=None))
