"""``CheckedCocoDataset``: MMDetection's ``CocoDataset`` with a data policy.

MMDetection's ``CocoDataset`` silently drops some bad boxes, keeps others (an
``inf`` coordinate reaches the loss), fails on an empty annotation file with a
bare ``JSONDecodeError``, and crashes the whole run mid-way when one image is
missing or corrupt. This dataset checks everything when it loads (before
training starts) and handles what it finds by a configurable policy:

``on_bad_annotation='skip'`` (or ``'error'``)
    Malformed image/annotation entries, duplicate ids, annotations of unknown
    images or of category ids not declared in ``categories``, boxes that are
    not 4 numbers, have NaN/inf coordinates, zero or negative size, or lie
    entirely outside the image. ``'skip'`` drops the box (the image keeps its
    other boxes; a bad image entry drops the image) and logs the counts;
    ``'error'`` raises one :class:`DataCheckError` listing every problem, each
    named by file, annotation id and image.
``on_bad_image='skip'`` (or ``'error'``)
    Image files that are missing (checked at load, see ``check_images``) or
    cannot be decoded. ``'skip'`` drops them at load, and a sample that fails
    while training (corrupt file, or any exception of the pipeline) is logged,
    counted and replaced by another random sample (MMEngine's ``max_refetch``
    mechanism); after ``max_consecutive_bad`` failures in a row the run stops,
    since that is a config or pipeline problem rather than bad data. ``'error'``
    raises, naming the file. A test-mode (validation/test) dataset cannot
    replace samples, so at fetch time it always raises; that is why it decodes
    every image at load by default.
``on_unlisted_category='skip'`` (or ``'error'``)
    Annotations whose category is declared in the file but not in the config's
    ``classes`` (training on a subset of classes). ``'skip'`` ignores them, as
    ``CocoDataset`` does, and logs the counts per category.
``check_images=None`` (auto), ``'none'``, ``'exists'`` or ``'decode'``
    What is checked of every image file at load: auto is ``'exists'`` when
    training and ``'decode'`` in test mode. ``'decode'`` decodes by content, so
    a PNG named ``.jpg`` is fine.
``clip_boxes=True``
    Boxes partly outside the image are clipped to it (counted).
``min_box_size=1.0``
    Boxes narrower or shorter than this (px, after clipping) are dropped and
    counted, as ``CocoDataset`` drops boxes under 1 px.

Always errors, whatever the policy: a missing, empty or non-JSON annotation
file, a wrong top-level layout, ``classes`` the file does not declare (or
declares in another order), and a dataset left without any image.

Images without boxes are counted; ``filter_cfg=dict(filter_empty_gt=True)``
drops them (and, unlike ``CocoDataset``, also images whose only boxes were
dropped as bad). Counts are logged with MMEngine's logger when loading ends;
fetch-time skips are logged as they happen (per dataloader worker).
"""
import os
import os.path as osp
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, List, Optional, Union

from mmdet.datasets import CocoDataset
from ssd_ext.registry import DATASETS
from mmengine.fileio import get_local_path
from mmengine.logging import print_log

from ssd_ext.data.checks import (NO_BOXES, UNLISTED_CATEGORY,
                                 DataCheckError, DataReport, ann_where, check_box,
                                 check_classes, check_policy, image_file_problem,
                                 img_where, load_coco_json, sanitize_coco)

CHECK_IMAGES = (None, 'none', 'exists', 'decode')


@DATASETS.register_module()
class CheckedCocoDataset(CocoDataset):
    """``CocoDataset`` that validates its data and applies a bad-data policy.

    Args:
        on_bad_annotation: ``'skip'`` or ``'error'``, see the module docstring.
        on_bad_image: ``'skip'`` or ``'error'``.
        on_unlisted_category: ``'skip'`` or ``'error'``.
        check_images: ``None`` (auto), ``'none'``, ``'exists'`` or ``'decode'``.
        clip_boxes: Clip boxes partly outside the image to it.
        min_box_size: Drop boxes smaller than this many pixels.
        max_consecutive_bad: Fetch-time failures in a row that stop the run in
            ``'skip'`` mode.
        **kwargs: ``CocoDataset``'s arguments.
    """

    def __init__(self, *args,
                 on_bad_annotation: str = 'skip',
                 on_bad_image: str = 'skip',
                 on_unlisted_category: str = 'skip',
                 check_images: Optional[str] = None,
                 clip_boxes: bool = True,
                 min_box_size: float = 1.0,
                 max_consecutive_bad: int = 10,
                 **kwargs) -> None:
        self.on_bad_annotation = check_policy('on_bad_annotation', on_bad_annotation)
        self.on_bad_image = check_policy('on_bad_image', on_bad_image)
        self.on_unlisted_category = check_policy('on_unlisted_category',
                                                 on_unlisted_category)
        check_policy('check_images', check_images, CHECK_IMAGES)
        self.check_images = check_images
        self.clip_boxes = bool(clip_boxes)
        if isinstance(min_box_size, bool) or not isinstance(min_box_size, (int, float)) \
                or min_box_size < 0:
            raise ValueError(f'min_box_size must be a number >= 0, got {min_box_size!r}')
        self.min_box_size = float(min_box_size)
        if isinstance(max_consecutive_bad, bool) or not isinstance(max_consecutive_bad, int) \
                or max_consecutive_bad < 1:
            raise ValueError(f'max_consecutive_bad must be an int >= 1, got '
                             f'{max_consecutive_bad!r}')
        self.max_consecutive_bad = max_consecutive_bad
        self.bad_sample_count = 0  # fetch-time skips, in this process
        self._consecutive_bad = 0
        self.report: Optional[DataReport] = None
        super().__init__(*args, **kwargs)

    # ------------------------------------------------------------------ loading
    def load_data_list(self) -> List[dict]:
        with get_local_path(self.ann_file, backend_args=self.backend_args) as local:
            data = load_coco_json(local)
        path = self.ann_file
        self.report = report = DataReport(path)
        self._image_report = DataReport(path)
        self._unlisted: Counter = Counter()
        self._unlisted_examples: List[str] = []
        images, anns, cats = sanitize_coco(data, path, report)
        self._cats = cats
        classes = self.metainfo['classes']
        self.cat_ids = check_classes(data['categories'], classes, path)
        self.cat2label = {cat_id: i for i, cat_id in enumerate(self.cat_ids)}
        self.cat_img_map: Dict[Any, List[Any]] = {c: [] for c in cats}
        for img_id, img_anns in anns.items():
            for ann in img_anns:
                self.cat_img_map[ann['category_id']].append(img_id)

        data_list = []
        for img_id, img in images.items():
            raw_img_info = dict(img, img_id=img_id)
            data_list.append(self.parse_data_info(
                dict(raw_ann_info=anns[img_id], raw_img_info=raw_img_info)))
        data_list = self._check_image_files(data_list)
        self._apply_policies(len(images), data_list)
        return data_list

    def parse_data_info(self, raw_data_info: dict) -> Union[dict, List[dict]]:
        img_info = raw_data_info['raw_img_info']
        data_info = dict(
            img_path=osp.join(self.data_prefix['img'], img_info['file_name']),
            img_id=img_info['img_id'],
            seg_map_path=None,
            height=img_info['height'],
            width=img_info['width'])
        if self.data_prefix.get('seg', None):
            data_info['seg_map_path'] = osp.join(
                self.data_prefix['seg'],
                img_info['file_name'].rsplit('.', 1)[0] + self.seg_map_suffix)
        if self.return_classes:
            data_info.update(text=self.metainfo['classes'],
                             caption_prompt=self.caption_prompt, custom_entities=True)
        instances = []
        for ann in raw_data_info['raw_ann_info']:
            if ann.get('ignore', False):
                continue
            res = check_box(ann['bbox'], img_info['width'], img_info['height'],
                            self.clip_boxes, self.min_box_size)
            where = ann_where(self.ann_file, ann, img_info)
            if res.problem:
                self.report.error(res.problem, where, res.detail)
                continue
            if res.note:
                self.report.note(res.note, where)
            if res.box is None:
                continue
            if ann['category_id'] not in self.cat2label:
                name = self._cats[ann['category_id']]['name']
                self._unlisted[name] += 1
                if len(self._unlisted_examples) < 20:
                    self._unlisted_examples.append(f'{where}: category {name!r}')
                continue
            instance = dict(bbox=res.box, bbox_label=self.cat2label[ann['category_id']],
                            ignore_flag=1 if ann.get('iscrowd', False) else 0)
            if ann.get('segmentation', None):
                instance['mask'] = ann['segmentation']
            instances.append(instance)
        if not instances:
            self.report.note(NO_BOXES, img_where(self.ann_file, img_info))
        data_info['instances'] = instances
        return data_info

    def _resolved_check_images(self) -> str:
        if self.check_images is None:
            return 'decode' if self.test_mode else 'exists'
        return self.check_images

    def _check_image_files(self, data_list: List[dict]) -> List[dict]:
        mode = self._resolved_check_images()
        if mode == 'none' or not data_list:
            return data_list
        decode = mode == 'decode'

        def problem(info: dict):
            return image_file_problem(info['img_path'], decode, self.backend_args)

        workers = min(8, os.cpu_count() or 1) if decode else 1
        if workers > 1:
            with ThreadPoolExecutor(workers) as pool:
                problems = list(pool.map(problem, data_list))
        else:
            problems = [problem(info) for info in data_list]
        kept = []
        for info, prob in zip(data_list, problems):
            if prob is None:
                kept.append(info)
            else:
                self._image_report.error(prob[0], f'{info["img_path"]} (image id '
                                         f'{info["img_id"]} in {self.ann_file})',
                                         prob[1])
        return kept

    def _apply_policies(self, num_images: int, data_list: List[dict]) -> None:
        """Raises for problems under an ``'error'`` policy, else logs counts."""
        ann_errors, img_errors = self.report.errors, self._image_report.errors
        messages = []
        if ann_errors and self.on_bad_annotation == 'error':
            messages.append("bad annotations (on_bad_annotation='error'):\n"
                            + self.report.summary())
        if img_errors and self.on_bad_image == 'error':
            messages.append("bad image files (on_bad_image='error'):\n"
                            + self._image_report.summary())
        if self._unlisted and self.on_unlisted_category == 'error':
            messages.append(
                f'{sum(self._unlisted.values())} annotations of categories not in '
                f'classes {tuple(self.metainfo["classes"])} (on_unlisted_category='
                f'\'error\'): {dict(self._unlisted)}\n  '
                + '\n  '.join(self._unlisted_examples))
        if messages:
            raise DataCheckError(
                f'{type(self).__name__}({self.ann_file}): ' + '\n'.join(messages)
                + '\nFix the data (tools/analysis/check_dataset.py lists every '
                'problem) or set the policy to \'skip\' to drop them.')
        if num_images and not data_list:
            first = (img_errors or ann_errors or [None])[0]
            raise DataCheckError(
                f'{type(self).__name__}({self.ann_file}): none of its {num_images} '
                f'images is usable (first problem: {first}); check data_root and '
                f'data_prefix (images are looked up under '
                f'{self.data_prefix.get("img")!r})')
        self._load_message = self._summary(num_images, data_list)

    def _summary(self, num_images: int, data_list: List[dict]) -> str:
        parts = []
        errors = self.report.error_counts()
        if errors:
            parts.append('skipped bad annotations: ' + ', '.join(
                f'{n} {k}' for k, n in sorted(errors.items())))
            parts += [f'  e.g. {f}' for f in self.report.errors[:5]]
        img_errors = self._image_report.error_counts()
        if img_errors:
            parts.append('skipped images: ' + ', '.join(
                f'{n} {k}' for k, n in sorted(img_errors.items())))
            parts += [f'  e.g. {f}' for f in self._image_report.errors[:5]]
        if self._unlisted:
            parts.append(f'ignored {sum(self._unlisted.values())} annotations of '
                         f'categories not in classes: {dict(self._unlisted)}')
        notes = {k: n for k, n in self.report.notes.items() if k != UNLISTED_CATEGORY}
        if notes:
            parts.append('notes: ' + ', '.join(f'{n} {k}' for k, n in sorted(notes.items())))
        boxes = sum(len(d['instances']) for d in data_list)
        head = (f'{type(self).__name__}({self.ann_file}): {len(data_list)} of '
                f'{num_images} images, {boxes} boxes loaded')
        return head + ('; ' + '\n'.join(parts) if parts else '')

    def filter_data(self) -> List[dict]:
        """``filter_empty_gt`` drops images left without boxes after the checks;
        ``min_size`` drops images smaller than it, as in ``CocoDataset``."""
        if self.test_mode or self.filter_cfg is None:
            kept = self.data_list
        else:
            filter_empty_gt = self.filter_cfg.get('filter_empty_gt', False)
            min_size = self.filter_cfg.get('min_size', 0)
            kept = [d for d in self.data_list
                    if not (filter_empty_gt and not d['instances'])
                    and min(d['width'], d['height']) >= min_size]
        message = getattr(self, '_load_message', None)
        if message is not None:
            dropped = len(self.data_list) - len(kept)
            if dropped:
                message += f'\n  filter_cfg dropped {dropped} images (no boxes or too small)'
            problems = (self.report.errors or self._image_report.errors
                        or self._unlisted)
            print_log(message, logger='current',
                      level=30 if problems else 20)  # WARNING / INFO
            self._load_message = None
        return kept

    # ----------------------------------------------------------------- fetching
    def prepare_data(self, idx: int) -> Any:
        data_info = self.get_data_info(idx)
        img_path, img_id = data_info.get('img_path'), data_info.get('img_id')
        try:
            data = self.pipeline(data_info)
        except Exception as err:
            return self._bad_sample(img_path, img_id, err)
        self._consecutive_bad = 0
        return data

    def _bad_sample(self, img_path: str, img_id: Any, err: Exception) -> None:
        problem = image_file_problem(img_path, True, self.backend_args)
        if problem:
            what = problem[0] + (f' ({problem[1]})' if problem[1] else '')
        else:
            what = f'the pipeline failed: {type(err).__name__}: {err}'
        where = f'{img_path} (image id {img_id} in {self.ann_file})'
        if self.test_mode or self.on_bad_image == 'error':
            mode = 'test mode' if self.test_mode else "on_bad_image='error'"
            raise DataCheckError(f'{where}: {what} ({mode}; run '
                                 f'tools/analysis/check_dataset.py to find every '
                                 f'bad image)') from err
        self.bad_sample_count += 1
        self._consecutive_bad += 1
        if self._consecutive_bad >= self.max_consecutive_bad:
            raise DataCheckError(
                f'{self._consecutive_bad} samples failed in a row (last: {where}: '
                f'{what}); that is not a few bad images but a data path, config or '
                f'pipeline problem') from err
        print_log(f'skipping sample {where}: {what}; another sample replaces it '
                  f'({self.bad_sample_count} skipped so far in this process)',
                  logger='current', level=30)
        return None


__all__ = ['CheckedCocoDataset']
