# SSD300 on Pascal VOC 07+12 (Liu et al. 2016, Table 1): train on VOC2007 trainval +
# VOC2012 trainval, test on VOC2007 test with the 11-point mAP. Data in VOC layout:
#   data/VOCdevkit/VOC2007/{Annotations,ImageSets/Main,JPEGImages}
#   data/VOCdevkit/VOC2012/{Annotations,ImageSets/Main,JPEGImages}
# Same network, augmentation and batch (32) as the COCO SSD300; what differs:
# - 20 classes, and VOC's prior scales: 0.2-0.9 with conv4_3 at 0.1, i.e. min sizes
#   [30, 60, 111, 162, 213, 264] and max sizes [60, 111, 162, 213, 264, 315];
# - the shorter VOC schedule: lr 1e-3 for 40k iterations, 1e-4 and 1e-5 for 10k each.
# Unlike MMDetection's voc0712.py no bbox_min_size is set: it would mark every box
# under 32 px as ignored, and SSD trains on small boxes too.
# VOCDataset that checks every XML, box and image at load with the policies of the
# COCO configs (README, bad data): bad boxes and unknown class names are skipped
# and counted, unreadable images replaced and logged.
_base_ = './ssd300.py'

dataset_type = 'CheckedVOCDataset'
data_root = 'data/VOCdevkit/'
backend_args = None

model = dict(
    bbox_head=dict(
        num_classes=20,
        prior_generator=dict(scale_range=(0.2, 0.9), first_level_scale=0.1)))

voc_train = dict(
    type=dataset_type,
    data_root=data_root,
    filter_cfg=dict(filter_empty_gt=True, min_size=32),
    pipeline=_base_.train_pipeline,
    backend_args=backend_args)
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='ConcatDataset',
        # VOCDataset puts its year in metainfo['dataset_type']; ConcatDataset
        # refuses datasets whose metainfo differs unless the key is ignored.
        ignore_keys=['dataset_type'],
        datasets=[
            dict(voc_train, ann_file='VOC2007/ImageSets/Main/trainval.txt',
                 data_prefix=dict(sub_data_root='VOC2007/')),
            dict(voc_train, ann_file='VOC2012/ImageSets/Main/trainval.txt',
                 data_prefix=dict(sub_data_root='VOC2012/')),
        ]))
val_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type=dataset_type,
        data_root=data_root,
        ann_file='VOC2007/ImageSets/Main/test.txt',
        data_prefix=dict(sub_data_root='VOC2007/'),
        test_mode=True,
        pipeline=_base_.test_pipeline,
        backend_args=backend_args))
test_dataloader = val_dataloader

# VOC2007's 11-point interpolated AP; VOCMetric's mAP plus each class's AP.
val_evaluator = dict(_delete_=True, type='ClasswiseVOCMetric', metric='mAP',
                     eval_mode='11points')
test_evaluator = val_evaluator

max_iters = 60000
train_cfg = dict(max_iters=max_iters, val_interval=10000)
param_scheduler = [
    _base_.param_scheduler[0],  # linear warmup
    dict(_base_.param_scheduler[1], end=max_iters, milestones=[40000, 50000]),
]
