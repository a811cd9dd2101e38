"""Convert an ImageNet VGG16 file into ssd_ext's backbone initialisation.

``python tools/model_converters/vgg16_to_ssd_ext.py SRC.pth DST.pth``

SRC is any of the VGG16 files SSD codebases start from: torchvision's
``vgg16-397923af.pth`` (IMAGENET1K_V1) or ``vgg16_features-amdegroot-88682ab5.pth``
(IMAGENET1K_FEATURES), MMCV's ``vgg16_caffe-292e1171.pth`` or ssd.pytorch's
``vgg16_reducedfc.pth``; which one is told from its content. fc6/fc7 are
reduced as the paper says and the file's input normalisation is folded into
conv1_1 (``ssd_ext/models/weight_conversion/imagenet_vgg16.py``), so the backbone
sees the input ssd_ext's preprocessor gives. DST gets a ``DST.sha256`` beside
it and is used with
``--cfg-options model.backbone.init_cfg.checkpoint=DST``.
"""
import argparse
from pathlib import Path

from ssd_ext.models.pretrained.checksum import check_source, save_checked
from ssd_ext.models.weight_conversion import unwrap_state_dict
from ssd_ext.models.weight_conversion.imagenet_vgg16 import convert_vgg16
from ssd_ext.utils.checkpoint_io import safe_load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('src', type=Path, help='ImageNet VGG16 weights')
    parser.add_argument('dst', type=Path, help='output backbone checkpoint')
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the fc6/fc7 init for a file whose classifier is NaN')
    args = parser.parse_args()
    print(check_source(args.src))
    state, notes = convert_vgg16(unwrap_state_dict(safe_load(args.src), str(args.src)),
                                 seed=args.seed)
    for note in notes:
        print(note)
    digest = save_checked(state, {'converted_from': args.src.name, 'notes': notes}, args.dst)
    print(f'wrote {len(state)} tensors to {args.dst} (sha256 {digest}, in {args.dst}.sha256)')
    print(f'use: --cfg-options model.backbone.init_cfg.checkpoint={args.dst}')


if __name__ == '__main__':
    main()
