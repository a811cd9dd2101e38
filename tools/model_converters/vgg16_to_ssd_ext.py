"""Convert ImageNet VGG16 weights into an SSD backbone initialisation.

``python tools/model_converters/vgg16_to_ssd_ext.py SRC.pth DST.pth``

SRC is torchvision's ``vgg16`` state dict or Caffe's ``vgg16_reducedfc``; DST is
used as ``backbone.init_cfg=dict(type='Pretrained', checkpoint=DST)``.
"""
import argparse

import torch

from ssd_ext.models.weight_conversion import unwrap_state_dict, vgg16_to_backbone
from ssd_ext.utils.checkpoint import safe_load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('src', help='VGG16 weights (torchvision or vgg16_reducedfc)')
    parser.add_argument('dst', help='output backbone checkpoint')
    args = parser.parse_args()
    state = vgg16_to_backbone(unwrap_state_dict(safe_load(args.src), args.src))
    torch.save({'state_dict': state}, args.dst)
    print(f'wrote {len(state)} tensors to {args.dst}')


if __name__ == '__main__':
    main()
