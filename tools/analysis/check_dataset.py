"""Scan a config's dataset for bad data, all problems in one pass.

``python tools/analysis/check_dataset.py CONFIG [--split train|val|test]
[--no-decode] [--max-examples N] [--cfg-options KEY=VALUE ...]``

Reads the annotations of ``{split}_dataloader.dataset`` (through dataset
wrappers such as ``RepeatDataset``; each of a ``ConcatDataset``), COCO json or
Pascal VOC XML, and every image they list, and reports with counts and examples:

errors (exit code 1)
    an unreadable or unusable annotation file (COCO json: empty, not JSON, wrong
    layout, config ``classes`` it does not declare or declares in another
    order; VOC: a missing or empty split file); malformed entries (COCO image
    or annotation entries, duplicate ids, annotations of unknown images or of
    undeclared category ids; VOC XML files missing or not valid XML, objects
    without name or box, coordinates that are not numbers); boxes with NaN/inf
    coordinates, zero or negative size, or entirely outside the image;
    missing or undecodable (corrupt, truncated) image files; images whose real
    size differs from the width/height in the annotations; a number of classes
    that differs from ``model.bbox_head.num_classes``.
notes (reported, exit code unaffected)
    boxes partly outside the image (clipped when loading), boxes under
    ``min_box_size`` px (dropped), objects of classes not in ``classes``
    (ignored), images without boxes, VOC XML without a valid ``<size>``,
    images whose content is not the format their extension says (e.g. a PNG
    named ``.jpg``: decoded by content, so it works).

The annotations are read by the dataset classes that check them while
training, :class:`ssd_ext.data.CheckedCocoDataset` (for ``CocoDataset``
configs) and :class:`ssd_ext.data.CheckedVOCDataset` (for ``VOCDataset`` /
``XMLDataset`` configs), with every policy at ``'skip'`` so that all problems
are listed (see their docstrings for the skip/error policies).
"""
import argparse
import os
import os.path as osp
import sys
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, List, Optional, Tuple

from mmengine.config import Config, ConfigDict, DictAction
from mmengine.registry import init_default_scope

SIZE_MISMATCH = 'image size differs from width/height in the annotation file'
FORMAT_NOTE = 'image content is not the format of its extension (decoded by content: fine)'
CLASSES_MISMATCH = 'number of classes differs from the model'
ANN_FILE = 'annotation file unusable'
EXTENSIONS = {'.jpg': 'JPEG', '.jpeg': 'JPEG', '.png': 'PNG', '.bmp': 'BMP',
              '.tif': 'TIFF', '.tiff': 'TIFF', '.webp': 'WEBP'}


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Report bad data of a dataset config')
    parser.add_argument('config', help='config file path')
    parser.add_argument('--split', choices=['train', 'val', 'test'], default='train',
                        help='which {split}_dataloader.dataset to check')
    parser.add_argument('--no-decode', action='store_true',
                        help='only check that image files exist (faster)')
    parser.add_argument('--max-examples', type=int, default=10,
                        help='examples listed per kind of problem')
    parser.add_argument('--workers', type=int, default=min(8, os.cpu_count() or 1),
                        help='threads decoding images')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, xxx=yyy format')
    return parser.parse_args(argv)


def leaf_datasets(cfg: Any) -> List[ConfigDict]:
    """The datasets with an ``ann_file`` inside dataset wrappers."""
    if 'datasets' in cfg:
        return [d for sub in cfg.datasets for d in leaf_datasets(sub)]
    if 'ann_file' not in cfg and 'dataset' in cfg:
        return leaf_datasets(cfg.dataset)
    return [cfg]


def checked_type(ds_type: str) -> str:
    """The checked dataset class that reads a dataset type's annotations."""
    from mmdet.datasets import CocoDataset, XMLDataset
    from mmdet.registry import DATASETS
    cls = DATASETS.get(ds_type)
    if cls is not None and issubclass(cls, XMLDataset):
        return 'CheckedVOCDataset'
    if cls is not None and issubclass(cls, CocoDataset):
        return 'CheckedCocoDataset'
    raise ValueError(f'dataset type {ds_type!r} is neither COCO json (CocoDataset) nor '
                     f'Pascal VOC XML (VOCDataset, XMLDataset): not supported')


def build_checked(ds_cfg: ConfigDict) -> Any:
    """The config's dataset as its checked type with every policy ``'skip'``,
    nothing loaded yet (``load_annotations`` loads)."""
    from mmdet.registry import DATASETS
    return DATASETS.build(dict(
        ds_cfg, type=checked_type(ds_cfg.get('type', 'CocoDataset')), lazy_init=True,
        pipeline=[], on_bad_annotation='skip', on_bad_image='skip',
        on_unlisted_category='skip'))


class Scan:
    """Findings of one dataset: counts and examples of errors and notes, by kind."""

    def __init__(self) -> None:
        self.errors: Counter = Counter()
        self.notes: Counter = Counter()
        self.examples: Dict[str, List[str]] = defaultdict(list)
        self.stats: Counter = Counter()

    def error(self, kind: str, where: str = '', count: int = 1) -> None:
        self.errors[kind] += count
        if where:
            self.examples[kind].append(where)

    def note(self, kind: str, where: str = '', count: int = 1) -> None:
        self.notes[kind] += count
        if where:
            self.examples[kind].append(where)

    def num_errors(self) -> int:
        return sum(self.errors.values())

    def format(self, max_examples: int) -> str:
        lines = []
        for title, group in (('ERRORS', self.errors), ('NOTES', self.notes)):
            if not group:
                continue
            lines.append(f'{title} ({sum(group.values())}):')
            for kind, count in group.most_common():
                lines.append(f'  {kind}: {count}')
                shown = self.examples[kind][:max_examples]
                lines += [f'    - {w}' for w in shown]
                if count > len(shown):
                    lines.append(f'    ... and {count - len(shown)} more')
        return '\n'.join(lines)


def check_images(data_list: List[dict], decode: bool, workers: int, scan: Scan,
                 ann_file: str) -> None:
    """Checks the image file of each data info (``img_path``, ``img_id``,
    ``width``, ``height``)."""
    from ssd_ext.data.checks import (MISSING_IMAGE, UNREADABLE_IMAGE,
                                     decode_problem, image_format)

    def one(info: dict) -> List[Tuple[str, str, str]]:
        path = info['img_path']
        where = f'{path} (image id {info["img_id"]} in {ann_file})'
        if not osp.isfile(path):
            return [('error', MISSING_IMAGE, where)]
        if not decode:
            return []
        try:
            with open(path, 'rb') as f:
                raw = f.read()
        except OSError as err:
            return [('error', UNREADABLE_IMAGE, f'{where}: {err}')]
        problem = decode_problem(raw)
        if problem:
            return [('error', problem[0], f'{where}: {problem[1]}')]
        found = []
        fmt = image_format(raw)
        expected = EXTENSIONS.get(osp.splitext(path)[1].lower())
        if expected and fmt != expected:
            found.append(('note', FORMAT_NOTE, f'{where}: {fmt} data'))
        import mmcv
        h, w = mmcv.imfrombytes(raw, flag='color').shape[:2]
        if (w, h) != (info['width'], info['height']):
            hint = ' (swapped: EXIF orientation?)' if (h, w) == (
                info['width'], info['height']) else ''
            found.append(('error', SIZE_MISMATCH, f'{where}: file {w}x{h}, '
                          f'annotation {info["width"]}x{info["height"]}{hint}'))
        return found

    if decode and workers > 1:
        with ThreadPoolExecutor(workers) as pool:
            results = list(pool.map(one, data_list))
    else:
        results = [one(info) for info in data_list]
    for found in results:
        for level, kind, where in found:
            (scan.error if level == 'error' else scan.note)(kind, where)


def add_report(scan: Scan, report: Any) -> None:
    """A checked dataset's ``DataReport`` into the scan."""
    for finding in report.errors:
        scan.error(finding.kind, f'{finding.where}' +
                   (f': {finding.detail}' if finding.detail else ''))
    for kind, count in report.notes.items():
        scan.note(kind, count=count)
        scan.examples[kind].extend(report.note_examples.get(kind, []))


def scan_dataset(ds_cfg: ConfigDict, num_classes: Optional[int], model_key: str,
                 decode: bool = True, workers: int = 1, key: str = 'dataset'
                 ) -> Tuple[Scan, List[str]]:
    """Checks one COCO or VOC dataset config; returns findings and header lines."""
    from ssd_ext.data.checks import DataCheckError
    scan = Scan()
    header = [f'dataset: {ds_cfg.get("type", "?")} ({key})']
    try:
        dataset = build_checked(ds_cfg)
        data_list = dataset.load_annotations()
    except (DataCheckError, OSError, ValueError) as err:
        header.append(f'  annotation file: {ds_cfg.get("ann_file")}')
        scan.error(ANN_FILE, str(err))
        return scan, header
    classes = tuple(dataset.metainfo['classes'])
    header += [f'  annotation file: {dataset.ann_file}',
               f'  data_prefix: {dict(dataset.data_prefix)}',
               f'  classes ({len(classes)}): {classes}']
    if num_classes is not None and len(classes) != num_classes:
        scan.error(CLASSES_MISMATCH,
                   f'{key}.metainfo.classes has {len(classes)} classes but '
                   f'{model_key} = {num_classes}')
    add_report(scan, dataset.report)
    add_report(scan, dataset.image_report)
    if dataset.report.unlisted:
        header.append(f'  annotations of categories not in classes (ignored): '
                      f'{dict(dataset.report.unlisted.most_common())}')
    scan.stats.update(images=len(data_list),
                      boxes=sum(len(info['instances']) for info in data_list))
    check_images(data_list, decode, workers, scan, dataset.ann_file)
    return scan, header


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    import ssd_ext  # noqa: F401  (registers dataset types)
    cfg = Config.fromfile(args.config)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    loader = cfg.get(f'{args.split}_dataloader')
    if not loader or 'dataset' not in loader:
        print(f'{args.config} has no {args.split}_dataloader.dataset', file=sys.stderr)
        return 2
    head = (cfg.get('model') or {}).get('bbox_head') or {}
    num_classes = head.get('num_classes')
    model_key = 'model.bbox_head.num_classes'
    print(f'Checking the {args.split} split of {args.config}')
    total_errors = 0
    for i, ds_cfg in enumerate(leaf_datasets(loader.dataset)):
        key = f'{args.split}_dataloader.dataset'
        scan, header = scan_dataset(ds_cfg, num_classes, model_key,
                                    decode=not args.no_decode, workers=args.workers,
                                    key=key)
        print('\n'.join(header))
        body = scan.format(args.max_examples)
        if body:
            print(body)
        n = scan.num_errors()
        total_errors += n
        notes = sum(scan.notes.values())
        print(f'summary: {n} error(s) of {len(scan.errors)} kind(s), {notes} note(s); '
              f'{scan.stats["images"]} images, {scan.stats["boxes"]} usable boxes')
    print('RESULT: ' + ('FAILED' if total_errors else 'OK') +
          f' ({total_errors} error(s))')
    return 1 if total_errors else 0


if __name__ == '__main__':
    sys.exit(main())
