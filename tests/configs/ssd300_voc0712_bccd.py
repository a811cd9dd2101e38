# configs/ssd300_voc0712.py on BCCD laid out as a VOCdevkit, for
# tests/integration/test_voc_end_to_end.py. Run from a folder holding
#   data/VOCdevkit/VOC2007 -> BCCD (trainval 292, test 72 images)
#   data/VOCdevkit/VOC2012 -> BCCD's images with another trainval split
# so the base config's relative data_root finds them. What differs from the base:
# - BCCD's three classes;
# - VGG and extra layers at a quarter of the channels, from random weights
#   (init_cfg=None: no ImageNet file at a quarter width), so that training and three
#   evaluations of the 72 test images fit the test's time on 2 CPU cores (the
#   SSD300 prior layout and the VOC scales stay);
# - a few iterations, one validation at the end, no data workers, batch 1 for
#   evaluation (the single- and two-process results then come from the same
#   per-image computation).
_base_ = '../../configs/ssd300_voc0712.py'

classes = ('RBC', 'WBC', 'Platelets')
channels = (128, 256, 128, 64, 64, 64)
model = dict(
    backbone=dict(widen_factor=0.25, init_cfg=None),
    neck=dict(in_channels=channels[:2], out_channels=channels),
    bbox_head=dict(num_classes=len(classes), in_channels=channels))

voc_train = dict(_base_.voc_train, metainfo=dict(classes=classes))
train_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False,
    dataset=dict(datasets=[
        dict(voc_train, ann_file='VOC2007/ImageSets/Main/trainval.txt',
             data_prefix=dict(sub_data_root='VOC2007/')),
        dict(voc_train, ann_file='VOC2012/ImageSets/Main/trainval.txt',
             data_prefix=dict(sub_data_root='VOC2012/')),
    ]))
val_dataloader = dict(batch_size=1, num_workers=0, persistent_workers=False,
                      dataset=dict(metainfo=dict(classes=classes)))
test_dataloader = val_dataloader

max_iters = 4
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(logger=dict(interval=1),
                     checkpoint=dict(interval=max_iters, max_keep_ckpts=1))
log_processor = dict(window_size=1)
