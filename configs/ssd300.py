_base_ = [
    '_base_/models/ssd300.py', '_base_/datasets/coco_ssd.py',
    '_base_/schedules/schedule_240k.py', '_base_/default_runtime.py'
]
