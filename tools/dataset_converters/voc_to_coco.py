"""Convert a Pascal VOC layout to COCO JSON, one file per split.

``python tools/dataset_converters/voc_to_coco.py VOC_ROOT OUT_DIR
[--splits train val test] [--classes A B C] [--skip-unknown]``

Writes ``OUT_DIR/annotations/<split>.json``. Images are not copied: their
``file_name`` is the bare name, so configs set ``data_prefix=dict(img='VOC_ROOT/JPEGImages/')``.
Nothing is written unless every split converts.
"""
import argparse
import json
import os
import os.path as osp
import sys

from ssd_ext.data.voc_to_coco import VOCConversionError, convert_split, infer_classes


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('voc_root', help='folder holding Annotations/, JPEGImages/, ImageSets/')
    parser.add_argument('out_dir', help='annotations/<split>.json are written here')
    parser.add_argument('--splits', nargs='+', default=['train', 'val', 'test'],
                        help='names of ImageSets/Main/<split>.txt files to convert')
    parser.add_argument('--classes', nargs='+',
                        help='class order (ids 1..K); default: sorted names found in the splits')
    parser.add_argument('--skip-unknown', action='store_true',
                        help='skip and count objects whose class is not in --classes '
                        'instead of failing')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    try:
        classes = args.classes or infer_classes(args.voc_root, args.splits)
        results = {split: convert_split(args.voc_root, split, classes, args.skip_unknown)
                   for split in args.splits}
    except VOCConversionError as e:
        sys.exit(f'error: {e}')
    ann_dir = osp.join(args.out_dir, 'annotations')
    os.makedirs(ann_dir, exist_ok=True)
    print(f'classes (ids 1..{len(classes)}): {", ".join(classes)}')
    for split, (coco, report) in results.items():
        with open(osp.join(ann_dir, f'{split}.json'), 'w') as f:
            json.dump(coco, f)
        print(report.summary(split))
    img_dir = osp.join(osp.abspath(args.voc_root), 'JPEGImages', '')
    print(f"wrote {ann_dir}/<split>.json; images were not copied, "
          f"so set data_prefix=dict(img='{img_dir}')")


if __name__ == '__main__':
    main()
