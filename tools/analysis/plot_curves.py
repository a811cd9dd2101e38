"""Plot a run's logged losses and validation metrics over iterations.

``python tools/analysis/plot_curves.py WORK_DIR [--keys KEY ...] [--out curves.png]
[--all-runs]``

Rule: reads ``WORK_DIR/<timestamp>/vis_data/scalars.json`` (one JSON object per
line), what MMEngine 0.10.7's ``LocalVisBackend`` writes (docs/upstream.md): the
latest run, or with ``--all-runs`` every run in time order (a resumed run logs in a
new folder and continues the iteration count); WORK_DIR may also be one run's
folder or the file itself. The PNG (default ``WORK_DIR/curves.png``) has a panel
for training keys (records with ``iter``) and one for validation keys, each
validation record placed at the training record logged before it; ``-1`` ("no
objects of that size/class") is left out. Without ``--keys``: the losses and each
evaluator's headline metrics (:func:`default_keys`). TensorBoard instead or as
well: docs/install.md#tensorboard.
"""
import argparse
import glob
import json
import os.path as osp
import sys
from collections import OrderedDict
from typing import Dict, List, Tuple

TRAIN_KEYS = ('loss', 'loss_cls', 'loss_bbox')
# Headline validation metrics by name after the prefix: CocoMetric's, VOCMetric's.
HEADLINE_METRICS = ('bbox_mAP', 'bbox_mAP_50', 'mAP')

Series = Dict[str, Tuple[List[float], List[float]]]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Plot training curves of a run')
    parser.add_argument('work_dir', help='work dir, a run folder or a scalars.json')
    parser.add_argument('--keys', nargs='+',
                        help='scalars to plot (training and validation keys; default: '
                        'the losses and headline metrics the run logged)')
    parser.add_argument('--out', help='output PNG (default: WORK_DIR/curves.png)')
    parser.add_argument('--all-runs', action='store_true',
                        help='join all timestamped runs in WORK_DIR, oldest first')
    parser.add_argument('--title', help='figure title (default: the work dir name)')
    return parser.parse_args()


def find_scalar_files(path: str, all_runs: bool = False) -> List[str]:
    """The ``scalars.json`` file(s) of ``path``: the file itself, a run folder's,
    or a work dir's latest run's (all runs with ``all_runs``, oldest first)."""
    if osp.isfile(path):
        return [path]
    if not osp.isdir(path):
        raise FileNotFoundError(f'no such work dir or file: {path}')
    own = osp.join(path, 'vis_data', 'scalars.json')
    if osp.isfile(own):
        return [own]
    # Timestamp folders (YYYYMMDD_HHMMSS) sort chronologically by name.
    files = sorted(glob.glob(osp.join(path, '*', 'vis_data', 'scalars.json')))
    if not files:
        raise FileNotFoundError(f'no */vis_data/scalars.json in {path}: not an MMEngine '
                                'work dir, or LocalVisBackend was not among vis_backends')
    return files if all_runs else files[-1:]


def read_series(files: List[str]) -> Tuple[Series, Series]:
    """Training and validation series ``{key: (iterations, values)}``."""
    train: Series = OrderedDict()
    val: Series = OrderedDict()
    for file in files:
        last_iter = 0
        with open(file) as f:
            for n, line in enumerate(f, 1):
                line = line.strip()
                if not line:
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    # A run killed mid-write leaves a partial last line.
                    print(f'warning: skipping unreadable line {n} of {file}', file=sys.stderr)
                    continue
                if 'iter' in rec:
                    x, target = rec.get('step', rec['iter']), train
                    last_iter = x
                else:
                    x, target = last_iter or rec.get('step', 0), val
                for key, value in rec.items():
                    if key in ('iter', 'step', 'epoch') or not isinstance(value, (int, float)):
                        continue
                    if target is val and value == -1:
                        continue
                    xs, ys = target.setdefault(key, ([], []))
                    xs.append(x)
                    ys.append(float(value))
    return train, val


def default_keys(train: Series, val: Series) -> List[str]:
    """The logged losses of ``TRAIN_KEYS`` and the validation keys whose name
    after the prefix is a headline metric, else every validation key."""
    headline = [k for k in val if k.rpartition('/')[2] in HEADLINE_METRICS]
    return [k for k in TRAIN_KEYS if k in train] + (headline or list(val))


def plot(train: Series, val: Series, keys: List[str], out: str, title: str
         ) -> Dict[str, str]:
    """Writes the PNG; returns ``{key: 'train' | 'val' | 'missing'}``."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    found = {k: 'train' if k in train else 'val' if k in val else 'missing' for k in keys}
    panels = [(name, series, [k for k in keys if found[k] == name])
              for name, series in (('train', train), ('val', val))]
    panels = [p for p in panels if p[2]]
    fig, axes = plt.subplots(len(panels), 1, figsize=(8, 3.6 * len(panels)),
                             squeeze=False, sharex=True)
    for ax, (name, series, names) in zip(axes[:, 0], panels):
        for key in names:
            xs, ys = series[key]
            style = dict(marker='o', markersize=3) if name == 'val' or len(xs) < 30 else {}
            ax.plot(xs, ys, label=key, **style)
        ax.set_ylabel('training loss' if name == 'train' else 'validation metric')
        ax.grid(alpha=0.3)
        ax.legend(loc='best', fontsize='small')
    axes[-1, 0].set_xlabel('iteration')
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return found


def main() -> int:
    args = parse_args()
    try:
        files = find_scalar_files(args.work_dir, args.all_runs)
    except FileNotFoundError as err:
        sys.exit(f'error: {err}')
    train, val = read_series(files)
    keys = args.keys or default_keys(train, val)
    if not any(k in train or k in val for k in keys):
        available = sorted(set(train) | set(val))
        sys.exit(f'error: none of {keys} is logged in {", ".join(files)}; '
                 f'available: {available}')
    base = args.work_dir if osp.isdir(args.work_dir) else osp.dirname(args.work_dir)
    out = args.out or osp.join(base, 'curves.png')
    title = args.title or osp.basename(osp.normpath(base))
    found = plot(train, val, keys, out, title)
    print(f'read {", ".join(files)}')
    for key, where in found.items():
        if where == 'missing':
            print(f'  {key}: not logged (skipped)')
            continue
        xs, ys = (train if where == 'train' else val)[key]
        print(f'  {key} [{where}]: {len(xs)} points, iterations {xs[0]}-{xs[-1]}, '
              f'last {ys[-1]:.4f}')
    print(f'saved {out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
