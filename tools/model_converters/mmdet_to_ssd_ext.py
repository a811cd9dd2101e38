"""Convert an MMDetection SSD300/SSD512 checkpoint for ssd_ext.

``python tools/model_converters/mmdet_to_ssd_ext.py SRC.pth DST.pth``

SRC's sha256 is checked against the hash prefix in its name (MMDetection's
released files carry one, e.g. ``...-d231a06e.pth``). Only the state dict is
kept (no optimizer, no pickled metadata), so DST loads weights-only; a
``DST.sha256`` beside it lets ``StrictPretrained`` check it (the fine-tune
config ``configs/bccd/ssd300_bccd_finetune.py`` loads it so).
"""
import argparse
from pathlib import Path

from ssd_ext.models.pretrained.checksum import check_source, save_checked
from ssd_ext.models.weight_conversion import mmdet_ssd_to_ssd_ext, unwrap_state_dict
from ssd_ext.utils.checkpoint import safe_load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('src', type=Path, help='MMDetection SSD checkpoint')
    parser.add_argument('dst', type=Path, help='output checkpoint for ssd_ext')
    args = parser.parse_args()
    print(check_source(args.src))
    state = mmdet_ssd_to_ssd_ext(unwrap_state_dict(safe_load(args.src), str(args.src)))
    digest = save_checked(state, {'converted_from': args.src.name}, args.dst)
    print(f'wrote {len(state)} tensors to {args.dst} (sha256 {digest}, in {args.dst}.sha256)')


if __name__ == '__main__':
    main()
