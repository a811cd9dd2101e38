"""The published weight files SSD training starts from.

Each entry names the file as published (its name carries the first digits of
its sha256, torch.hub's convention, where the publisher gave one), where to
fetch it, and what it is, so that a missing file can be fetched by hand on a
machine without network access to the training job.
"""
from dataclasses import dataclass
from typing import Dict


@dataclass(frozen=True)
class KnownWeights:
    url: str
    description: str

    @property
    def filename(self) -> str:
        return self.url.rsplit('/', 1)[-1]


KNOWN_WEIGHTS: Dict[str, KnownWeights] = {w.filename: w for w in (
    KnownWeights('https://download.openmmlab.com/pretrain/third_party/vgg16_caffe-292e1171.pth',
                 "ImageNet VGG16 with SSD's reduced fc6/fc7, Caffe-trained; MMDetection's "
                 "'open-mmlab://vgg16_caffe', loads into VGG16ReducedFC as it is"),
    KnownWeights('https://download.pytorch.org/models/vgg16-397923af.pth',
                 "torchvision's VGG16 IMAGENET1K_V1; convert it with "
                 'tools/model_converters/vgg16_to_ssd_ext.py'),
    KnownWeights('https://download.pytorch.org/models/vgg16_features-amdegroot-88682ab5.pth',
                 "torchvision's VGG16 IMAGENET1K_FEATURES (NaN classifier); convert it "
                 'with tools/model_converters/vgg16_to_ssd_ext.py'),
    KnownWeights('https://download.openmmlab.com/mmdetection/v2.0/ssd/ssd300_coco/'
                 'ssd300_coco_20210803_015428-d231a06e.pth',
                 "MMDetection's COCO SSD300 (25.5 AP); convert it with "
                 'tools/model_converters/mmdet_to_ssd_ext.py'),
    KnownWeights('https://download.openmmlab.com/mmdetection/v2.0/ssd/ssd512_coco/'
                 'ssd512_coco_20210803_022849-0a47a1ca.pth',
                 "MMDetection's COCO SSD512 (29.5 AP); convert it with "
                 'tools/model_converters/mmdet_to_ssd_ext.py'),
)}
