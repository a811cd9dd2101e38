"""``CheckedVOCDataset``: MMDetection's ``VOCDataset`` with the data policy of COCO data.

Rule: Pascal VOC XML goes through the checks of :mod:`ssd_ext.data.annotation_checks`
and the policies of :class:`~ssd_ext.data.checked_dataset.CheckedDataMixin`, as COCO
json does, where MMDetection 3.3.0's ``VOCDataset`` crashes on a malformed XML file,
keeps click boxes (``xmax == xmin``) and silently drops class names it does not know
(docs/upstream.md). On clean data it loads what ``VOCDataset`` loads: boxes are
``(xmin - 1, ymin - 1, xmax - 1, ymax - 1)`` of VOC's 1-based inclusive indices, kept
as written (``VOCDataset`` truncates them to integers); ``difficult`` objects and boxes
under ``filter_cfg.bbox_min_size`` get ``ignore_flag=1``. What each policy covers in
VOC XML: docs/reliability.md#bad-data.
"""
import os.path as osp
from typing import List, Optional, Tuple

from mmdet.datasets import VOCDataset
from mmengine import fileio

from ssd_ext.data.annotation_checks import DUPLICATE_IMAGE, ObjectEntry
from ssd_ext.data.checked_dataset import CheckedDataMixin
from ssd_ext.data.image_checks import header_size, image_where
from ssd_ext.data.voc_xml import (MISSING_XML, VOCObject, parse_objects, parse_xml,
                                  read_image_ids, xml_image_size)
from ssd_ext.registry import DATASETS

NO_XML_SIZE = 'no valid <size> in the XML (size read from the image)'


def voc_object_entry(obj: VOCObject, where: str, ignore: bool) -> ObjectEntry:
    """A VOC ``(xmin, ymin, xmax, ymax)`` box (1-based inclusive pixel indices)
    as an object to check; the kept box is MMDetection's ``(xmin - 1, ymin - 1,
    xmax - 1, ymax - 1)``."""
    xmin, ymin, xmax, ymax = obj.box
    return ObjectEntry(where=where, category=obj.name,
                       xywh=(xmin - 1, ymin - 1, xmax - xmin, ymax - ymin),
                       detail=f'bndbox=({xmin:g}, {ymin:g}, {xmax:g}, {ymax:g})',
                       ignore_flag=int(obj.difficult or ignore))


@DATASETS.register_module()
class CheckedVOCDataset(CheckedDataMixin, VOCDataset):
    """``VOCDataset`` that validates its data and applies a bad-data policy.

    Args: the policies of :class:`CheckedDataMixin` and ``VOCDataset``'s
    arguments (``img_subdir``, ``ann_subdir``, ...), all by keyword.
    """

    def read_annotation_file(self) -> List[dict]:
        img_ids = read_image_ids(self.ann_file, self.backend_args)
        self.report.listed = len(img_ids)
        self.cat2label = self.class_labels  # VOCDataset's attribute, for code reading it
        data_list, seen = [], set()
        for img_id in img_ids:
            if img_id in seen:
                self.report.error(DUPLICATE_IMAGE, f'{self.ann_file} image id {img_id}')
                continue
            seen.add(img_id)
            info = self.parse_data_info(dict(
                img_id=img_id, file_name=osp.join(self.img_subdir, f'{img_id}.jpg'),
                xml_path=osp.join(self.sub_data_root, self.ann_subdir, f'{img_id}.xml')))
            if info is not None:
                data_list.append(info)
        return data_list

    def parse_data_info(self, img_info: dict) -> Optional[dict]:
        """The data info of one image (``img_id``, ``file_name``, ``xml_path``),
        or ``None`` where its XML or, lacking a size, its image is unusable."""
        xml_path = img_info['xml_path']
        data_info = dict(img_path=osp.join(self.sub_data_root, img_info['file_name']),
                         img_id=img_info['img_id'], xml_path=xml_path)
        if not fileio.exists(xml_path, backend_args=self.backend_args):
            self.report.error(MISSING_XML, xml_path)
            return None
        root = parse_xml(fileio.get(xml_path, backend_args=self.backend_args))
        if isinstance(root, tuple):
            self.report.error(root[0], xml_path, root[1])
            return None
        size = xml_image_size(root)
        if size is None:
            check = header_size(data_info['img_path'], self.backend_args)
            if check.problem:
                self.image_report.error(check.problem[0],
                                        image_where(data_info, self.ann_file),
                                        check.problem[1])
                return None
            size = check.size
            self.report.note(NO_XML_SIZE, xml_path)
        data_info['width'], data_info['height'] = size
        data_info['instances'] = self.instances(self._objects(root, xml_path), *size,
                                                where=xml_path)
        return data_info

    def _objects(self, root, xml_path: str) -> List[ObjectEntry]:
        """The usable ``<object>`` elements as entries to check; malformed ones
        are recorded in the report."""
        entries = []
        for index, parsed in enumerate(parse_objects(root), 1):
            where = f'{xml_path} object {index}'
            if not isinstance(parsed, VOCObject):
                self.report.error(parsed[0], where, parsed[1])
                continue
            entries.append(voc_object_entry(parsed, where, self._too_small(parsed.box)))
        return entries

    def _too_small(self, box: Tuple[float, float, float, float]) -> bool:
        """``filter_cfg.bbox_min_size``: VOCDataset's rule for ignored small boxes."""
        min_size = self.bbox_min_size
        return min_size is not None and (box[2] - box[0] < min_size
                                         or box[3] - box[1] < min_size)


__all__ = ['CheckedVOCDataset', 'voc_object_entry', 'NO_XML_SIZE']
