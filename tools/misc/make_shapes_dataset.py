"""Draw the synthetic shapes dataset (COCO format) used by the first run.

``python tools/misc/make_shapes_dataset.py [OUT_DIR] [--num-train N] [--num-val N]``
"""
import argparse

from ssd_ext.data.synthetic_shapes import make_dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('out_dir', nargs='?', default='data/shapes')
    parser.add_argument('--num-train', type=int, default=400)
    parser.add_argument('--num-val', type=int, default=50)
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    make_dataset(args.out_dir, args.num_train, args.num_val, args.seed)
    print(f'wrote {args.num_train} train and {args.num_val} val images to {args.out_dir}')


if __name__ == '__main__':
    main()
