"""Convert an MMDetection SSD300/SSD512 checkpoint for ssd_ext.

``python tools/model_converters/mmdet_to_ssd_ext.py SRC.pth DST.pth``

Only the state dict is kept (no optimizer, no pickled metadata), so the output
loads with weights-only loading. The source is read weights-only too.
"""
import argparse

import torch

from ssd_ext.models.weight_conversion import mmdet_ssd_to_ssd_ext, unwrap_state_dict
from ssd_ext.utils.checkpoint import safe_load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('src', help='MMDetection SSD checkpoint')
    parser.add_argument('dst', help='output checkpoint for ssd_ext')
    args = parser.parse_args()
    state = mmdet_ssd_to_ssd_ext(unwrap_state_dict(safe_load(args.src), args.src))
    torch.save({'state_dict': state, 'meta': {'converted_from': 'mmdet'}}, args.dst)
    print(f'wrote {len(state)} tensors to {args.dst}')


if __name__ == '__main__':
    main()
