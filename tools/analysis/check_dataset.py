"""Scan a config's dataset for bad data, all problems in one pass.

``python tools/analysis/check_dataset.py CONFIG [--split train|val|test]
[--no-decode] [--max-examples N] [--cfg-options KEY=VALUE ...]``

Rule: ``{split}_dataloader.dataset`` (through wrappers such as ``RepeatDataset``;
each of a ``ConcatDataset``) is read by the classes that check it while training,
:class:`ssd_ext.data.CheckedCocoDataset` or :class:`ssd_ext.data.CheckedVOCDataset`,
with every policy at ``'skip'`` so that every problem is listed; every image file
it lists is checked (through the dataset's ``backend_args``), and its classes
against the model as ``DatasetModelConsistencyHook`` does. One
:class:`ssd_ext.data.DataReport` lists errors (exit code 1) and notes (exit code
unaffected) with counts and examples; which problem is which:
docs/reliability.md#bad-data.
"""
import argparse
import sys
from typing import Any, List, Optional, Tuple

from mmengine.config import Config, ConfigDict, DictAction
from mmengine.registry import init_default_scope

CLASSES_MISMATCH = 'number of classes differs from the model'
ANN_FILE = 'annotation file unusable'


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Report bad data of a dataset config')
    parser.add_argument('config', help='config file path')
    parser.add_argument('--split', choices=['train', 'val', 'test'], default='train',
                        help='which {split}_dataloader.dataset to check')
    parser.add_argument('--no-decode', action='store_true',
                        help='only check that image files exist (faster)')
    parser.add_argument('--max-examples', type=int, default=10,
                        help='examples listed per kind of problem')
    parser.add_argument('--workers', type=int,
                        help='threads decoding images (default: up to 8)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, xxx=yyy format')
    return parser.parse_args(argv)


def leaf_datasets(cfg: Any, key: str) -> List[Tuple[str, ConfigDict]]:
    """The datasets with an ``ann_file`` inside dataset wrappers, each with its
    config key (``key`` is ``cfg``'s), so that messages name the one to fix."""
    if 'datasets' in cfg:
        return [leaf for i, sub in enumerate(cfg.datasets)
                for leaf in leaf_datasets(sub, f'{key}.datasets[{i}]')]
    if 'ann_file' not in cfg and 'dataset' in cfg:
        return leaf_datasets(cfg.dataset, f'{key}.dataset')
    return [(key, cfg)]


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


def scan_dataset(ds_cfg: ConfigDict, num_classes: Optional[int], model_key: str,
                 decode: bool = True, workers: Optional[int] = 1, key: str = 'dataset'
                 ) -> Tuple[Any, List[str], List[dict]]:
    """Checks one COCO or VOC dataset config; returns its :class:`DataReport`,
    header lines and the data infos of the images its annotations list (bad
    image files are counted in the report, not left out of them)."""
    from ssd_ext.data import DataCheckError, DataReport
    from ssd_ext.data.image_checks import check_image_files
    from ssd_ext.data.class_consistency import classes_problem
    report = DataReport(str(ds_cfg.get('ann_file')))
    header = [f'dataset: {ds_cfg.get("type", "?")} ({key})']
    try:
        dataset = build_checked(ds_cfg)
        data_list = dataset.load_annotations()
    except (DataCheckError, OSError, ValueError) as err:
        header.append(f'  annotation file: {ds_cfg.get("ann_file")}')
        report.error(ANN_FILE, str(err))
        return report, header, []
    classes = tuple(dataset.metainfo['classes'])
    header += [f'  annotation file: {dataset.ann_file}',
               f'  data_prefix: {dict(dataset.data_prefix)}',
               f'  classes ({len(classes)}): {classes}']
    problem = classes_problem(key, classes, num_classes, model_key)
    if problem:
        report.error(CLASSES_MISMATCH, problem)
    if not dataset.report.listed:  # the dataset raises on it when loading
        report.error(ANN_FILE, f'{dataset.ann_file} lists no images')
    report.extend(dataset.report)
    report.extend(dataset.image_report)
    if report.unlisted:
        header.append(f'  annotations of categories not in classes (ignored): '
                      f'{dict(report.unlisted.most_common())}')
    check_image_files(data_list, report, dataset.ann_file, decode=decode,
                      backend_args=dataset.backend_args, workers=workers,
                      compare_annotation=True)
    return report, header, data_list


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
    for key, ds_cfg in leaf_datasets(loader.dataset, f'{args.split}_dataloader.dataset'):
        report, header, data_list = scan_dataset(
            ds_cfg, num_classes, model_key, decode=not args.no_decode,
            workers=args.workers, key=key)
        print('\n'.join(header))
        body = report.listing(args.max_examples)
        if body:
            print(body)
        n = len(report.errors)
        total_errors += n
        notes = sum(report.notes.values())
        boxes = sum(len(info['instances']) for info in data_list)
        print(f'summary: {n} error(s) of {len(report.error_counts())} kind(s), '
              f'{notes} note(s); {len(data_list)} images, {boxes} usable boxes')
    print('RESULT: ' + ('FAILED' if total_errors else 'OK') +
          f' ({total_errors} error(s))')
    return 1 if total_errors else 0


if __name__ == '__main__':
    sys.exit(main())
