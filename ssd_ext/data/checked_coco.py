"""``CheckedCocoDataset``: MMDetection's ``CocoDataset`` with a data policy.

MMDetection 3.3.0's ``CocoDataset`` silently drops some bad boxes, keeps others
(an ``inf`` coordinate reaches the loss), fails on an empty annotation file with
a bare ``JSONDecodeError``, and crashes the whole run mid-way when one image is
missing or corrupt (docs/upstream.md). This dataset checks everything when it
loads (before training starts) and handles what it finds by the policies of
:class:`~ssd_ext.data.checked_dataset.CheckedDataMixin` (``on_bad_annotation``,
``on_bad_image``, ``on_unlisted_category``, ``check_images``, ``clip_boxes``,
``min_box_size``, ``max_consecutive_bad``). For COCO json:

``on_bad_annotation``
    Malformed image/annotation entries, duplicate ids, annotations of unknown
    images or of category ids not declared in ``categories``, boxes that are
    not 4 numbers, have NaN/inf coordinates, zero or negative size, or lie
    entirely outside the image. A bad image entry drops the image.
``on_unlisted_category``
    Annotations whose category is declared in the file but not in the config's
    ``classes`` (training on a subset of classes).
``min_box_size=1.0``
    As ``CocoDataset`` drops boxes under 1 px.

Annotations marked ``ignore`` are skipped, as ``CocoDataset`` does, and counted.

Always errors, whatever the policy: a missing, empty or non-JSON annotation
file, a wrong top-level layout, ``classes`` the file does not declare (or
declares in another order), and a dataset left without any image.
"""
import os.path as osp
from typing import Any, Dict, List

from mmdet.datasets import CocoDataset
from mmengine.fileio import get_local_path

from ssd_ext.data.checked_dataset import CheckedDataMixin
from ssd_ext.data.coco_json import (ann_where, check_classes, coco_objects, img_where,
                                    load_coco_json, sanitize_coco)
from ssd_ext.registry import DATASETS

IGNORED_ANN = "annotation marked 'ignore' (skipped, as CocoDataset does)"


@DATASETS.register_module()
class CheckedCocoDataset(CheckedDataMixin, CocoDataset):
    """``CocoDataset`` that validates its data and applies a bad-data policy.

    Args: the policies of :class:`CheckedDataMixin` and ``CocoDataset``'s
    arguments, all by keyword.
    """

    def read_annotation_file(self) -> List[dict]:
        with get_local_path(self.ann_file, backend_args=self.backend_args) as local:
            data = load_coco_json(local)
        path = self.ann_file
        images, anns, cats = sanitize_coco(data, path, self.report)
        self.report.listed = len(images)
        self.cat_ids = check_classes(data['categories'], self.metainfo['classes'], path)
        # cat2label and cat_img_map are CocoDataset's attributes, set as it sets
        # them for code that reads them off a drop-in CocoDataset; the checks
        # themselves label by class name (class_labels, cat_names).
        self.cat2label = {cat_id: i for i, cat_id in enumerate(self.cat_ids)}
        self.cat_names = {cat_id: cat['name'] for cat_id, cat in cats.items()}
        self.cat_img_map: Dict[Any, List[Any]] = {c: [] for c in cats}
        for img_id, img_anns in anns.items():
            for ann in img_anns:
                self.cat_img_map[ann['category_id']].append(img_id)
        return [self.parse_data_info(dict(raw_ann_info=anns[img_id],
                                          raw_img_info=dict(img, img_id=img_id)))
                for img_id, img in images.items()]

    def parse_data_info(self, raw_data_info: dict) -> dict:
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
        anns = []
        for ann in raw_data_info['raw_ann_info']:
            if ann.get('ignore', False):  # CocoDataset skips these silently; we count them
                self.report.note(IGNORED_ANN, ann_where(self.ann_file, ann, img_info))
            else:
                anns.append(ann)
        objects = coco_objects(anns, img_info, self.ann_file, self.cat_names, self.report)
        data_info['instances'] = self.instances(objects, img_info['width'], img_info['height'],
                                                img_where(self.ann_file, img_info))
        return data_info


__all__ = ['CheckedCocoDataset', 'IGNORED_ANN']
