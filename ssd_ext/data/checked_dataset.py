"""The bad-data policies of ssd_ext's checked datasets, whatever the annotation format.

Rule: bad data is an error naming the file and entry before training starts, or a
counted, logged skip; a sample that fails while training is replaced, never the end
of the run. :class:`CheckedDataMixin` goes before an MMDetection dataset class
(``class CheckedCocoDataset(CheckedDataMixin, CocoDataset)``); its arguments choose
the policies (docs/reliability.md#bad-data). The format's class implements
:meth:`read_annotation_file`, recording problems in :attr:`report` (annotations) and
:attr:`image_report` (image files it had to read), and :meth:`instances`, through
:mod:`ssd_ext.data.annotation_checks`; image files go through
:mod:`ssd_ext.data.image_checks`.
"""
import logging
import math
from typing import Any, Iterable, List, Optional

from mmengine.logging import print_log

from ssd_ext.data.annotation_checks import (NO_BOXES, UNLISTED_CATEGORY, ObjectEntry,
                                            check_objects)
from ssd_ext.data.data_report import DataCheckError, DataReport
from ssd_ext.data.image_checks import check_image_file, check_image_files, image_where
from ssd_ext.utils.validation import check_in

POLICIES = ('error', 'skip')
CHECK_IMAGES = (None, 'none', 'exists', 'decode')


class CheckedDataMixin:
    """Validates a dataset's data at load and applies the bad-data policies.

    Args:
        on_bad_annotation: ``'skip'`` (drop the box, or the image for a bad image
            entry or XML file, and count it) or ``'error'`` (one
            :class:`DataCheckError` naming every problem by file and entry).
        on_bad_image: ``'skip'`` (drop missing or undecodable files at load;
            replace a sample that fails while training by another random one,
            through MMEngine's ``max_refetch``) or ``'error'``. A test-mode
            dataset cannot replace samples: it raises at fetch time, and so
            decodes every image at load by default.
        on_unlisted_category: ``'skip'`` (ignore objects whose class is not in
            ``classes``, as MMDetection does, counted per class) or ``'error'``.
        check_images: ``None`` (auto: ``'exists'`` when training, ``'decode'``
            in test mode), ``'none'``, ``'exists'`` or ``'decode'`` (by content).
        clip_boxes: Clip boxes partly outside the image to it.
        min_box_size: Drop boxes smaller than this many pixels (after clipping).
        max_consecutive_bad: Fetch-time failures in a row that stop the run in
            ``'skip'`` mode (a config or pipeline problem, not bad data).
        **kwargs: the MMDetection dataset's arguments.

    A dataset left without any image is an error. Images without boxes are
    counted; ``filter_cfg=dict(filter_empty_gt=True)`` drops them.
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
        check_in('on_bad_annotation', on_bad_annotation, POLICIES)
        check_in('on_bad_image', on_bad_image, POLICIES)
        check_in('on_unlisted_category', on_unlisted_category, POLICIES)
        check_in('check_images', check_images, CHECK_IMAGES)
        self.on_bad_annotation = on_bad_annotation
        self.on_bad_image = on_bad_image
        self.on_unlisted_category = on_unlisted_category
        self.check_images = check_images
        self.clip_boxes = bool(clip_boxes)
        if isinstance(min_box_size, bool) or not isinstance(min_box_size, (int, float)) \
                or not 0 <= min_box_size < math.inf:
            raise ValueError(f'min_box_size must be a finite number >= 0, got '
                             f'{min_box_size!r}')
        self.min_box_size = float(min_box_size)
        if isinstance(max_consecutive_bad, bool) or not isinstance(max_consecutive_bad, int) \
                or max_consecutive_bad < 1:
            raise ValueError(f'max_consecutive_bad must be an int >= 1, got '
                             f'{max_consecutive_bad!r}')
        self.max_consecutive_bad = max_consecutive_bad
        self.bad_sample_count = 0  # fetch-time skips, in this process
        self._consecutive_bad = 0
        self.report: Optional[DataReport] = None
        self.image_report: Optional[DataReport] = None
        super().__init__(*args, **kwargs)

    # ------------------------------------------------------------------ loading
    def read_annotation_file(self) -> List[dict]:
        """Data infos (MMDetection's keys) of the images the annotation file
        lists and that have usable entries; sets ``report.listed``."""
        raise NotImplementedError

    def load_annotations(self) -> List[dict]:
        """Reads and checks the annotation file without checking image files;
        the problems are in :attr:`report` and :attr:`image_report` afterwards."""
        self.report = DataReport(self.ann_file)
        self.image_report = DataReport(self.ann_file)
        # Labels number the config's classes in order, in either format.
        self.class_labels = {name: i for i, name in enumerate(self.metainfo['classes'])}
        return self.read_annotation_file()

    def load_data_list(self) -> List[dict]:
        data_list = self._check_image_files(self.load_annotations())
        self._apply_policies(self.report.listed, data_list)
        return data_list

    def _resolved_check_images(self) -> str:
        if self.check_images is None:
            return 'decode' if self.test_mode else 'exists'
        return self.check_images

    def instances(self, objects: Iterable[ObjectEntry], width: float, height: float,
                  where: str) -> List[dict]:
        """MMDetection instances of one image (``where`` names it): ``bbox``
        (x1, y1, x2, y2 px), ``bbox_label`` and ``ignore_flag``, plus each
        object's ``extra`` keys; an image left without boxes is noted."""
        kept = check_objects(objects, width, height, self.report, self.class_labels,
                             self.clip_boxes, self.min_box_size)
        if not kept:
            self.report.note(NO_BOXES, where)
        return [dict(bbox=obj.box, bbox_label=obj.label, ignore_flag=obj.entry.ignore_flag,
                     **(obj.entry.extra or {})) for obj in kept]

    def _check_image_files(self, data_list: List[dict]) -> List[dict]:
        mode = self._resolved_check_images()
        if mode == 'none':
            return data_list
        return check_image_files(data_list, self.image_report, self.ann_file,
                                 decode=mode == 'decode', backend_args=self.backend_args)

    def _apply_policies(self, num_images: int, data_list: List[dict]) -> None:
        """Raises for problems under an ``'error'`` policy, else logs counts."""
        ann_errors, img_errors = self.report.errors, self.image_report.errors
        unlisted = self.report.unlisted
        messages = []
        if ann_errors and self.on_bad_annotation == 'error':
            messages.append("bad annotations (on_bad_annotation='error'):\n"
                            + self.report.summary())
        if img_errors and self.on_bad_image == 'error':
            messages.append("bad image files (on_bad_image='error'):\n"
                            + self.image_report.summary())
        if unlisted and self.on_unlisted_category == 'error':
            examples = self.report.note_examples.get(UNLISTED_CATEGORY, [])
            messages.append(
                f'{sum(unlisted.values())} annotations of categories not in '
                f'classes {tuple(self.metainfo["classes"])} (on_unlisted_category='
                f'\'error\'): {dict(unlisted)}\n  ' + '\n  '.join(examples))
        if messages:
            raise DataCheckError(
                f'{type(self).__name__}({self.ann_file}): ' + '\n'.join(messages)
                + '\nFix the data (tools/analysis/check_dataset.py lists every '
                'problem) or set the policy to \'skip\' to drop them.')
        if not num_images:
            raise DataCheckError(f'{type(self).__name__}({self.ann_file}): the annotation '
                                 f'file lists no images')
        if not data_list:
            first = (img_errors or ann_errors or [None])[0]
            raise DataCheckError(
                f'{type(self).__name__}({self.ann_file}): none of its {num_images} '
                f'images is usable (first problem: {first}); check data_root and '
                f'data_prefix (now {dict(self.data_prefix)})')
        self._load_message = self._summary(num_images, data_list)

    def _summary(self, num_images: int, data_list: List[dict]) -> str:
        parts = []
        for what, report in (('bad annotations', self.report),
                             ('images', self.image_report)):
            errors = report.error_counts()
            if errors:
                parts.append(f'skipped {what}: ' + ', '.join(
                    f'{n} {k}' for k, n in sorted(errors.items())))
                parts += [f'  e.g. {f}' for f in report.errors[:5]]
        if self.report.unlisted:
            parts.append(f'ignored {sum(self.report.unlisted.values())} annotations of '
                         f'categories not in classes: {dict(self.report.unlisted)}')
        notes = {k: n for k, n in self.report.notes.items() if k != UNLISTED_CATEGORY}
        if notes:
            parts.append('notes: ' + ', '.join(f'{n} {k}' for k, n in sorted(notes.items())))
        boxes = sum(len(d['instances']) for d in data_list)
        head = (f'{type(self).__name__}({self.ann_file}): {len(data_list)} of '
                f'{num_images} images, {boxes} boxes loaded')
        return head + ('; ' + '\n'.join(parts) if parts else '')

    def filter_data(self) -> List[dict]:
        """``filter_empty_gt`` drops images left without boxes after the checks;
        ``min_size`` drops images smaller than it, as MMDetection's datasets do."""
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
            problems = (self.report.errors or self.image_report.errors
                        or self.report.unlisted)
            print_log(message, logger='current',
                      level=logging.WARNING if problems else logging.INFO)
            self._load_message = None
        return kept

    # ----------------------------------------------------------------- fetching
    def prepare_data(self, idx: int) -> Any:
        data_info = self.get_data_info(idx)
        try:
            data = self.pipeline(data_info)
        except Exception as err:
            return self._bad_sample(data_info, err)
        self._consecutive_bad = 0
        return data

    def _bad_sample(self, data_info: dict, err: Exception) -> None:
        img_path = data_info.get('img_path')
        problem = check_image_file(img_path, True, self.backend_args).problem
        if problem:
            what = problem[0] + (f' ({problem[1]})' if problem[1] else '')
        else:
            what = f'the pipeline failed: {type(err).__name__}: {err}'
        where = image_where(data_info, self.ann_file)
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
                  logger='current', level=logging.WARNING)
        return None


__all__ = ['CheckedDataMixin', 'CHECK_IMAGES', 'POLICIES']
