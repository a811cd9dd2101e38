"""The image checker shared by the checked datasets and check_dataset.py:
decoding by content, truncated JPEGs, sizes against the annotation, threads,
and files read through ``backend_args``."""
from pathlib import Path

import cv2

from ssd_ext.data import DataReport
from ssd_ext.data import image_checks as ic
from ssd_testkit.faulty_coco import BadCopy, bad_copy  # noqa: F401  (fixture)
from ssd_testkit.remapped_storage import remapped


def infos(copy: BadCopy, img_dir: str) -> list:
    """Data infos of the copy's images, as a dataset lists them."""
    return [dict(img_path=f'{img_dir}/{img["file_name"]}', img_id=img['id'],
                 width=img['width'], height=img['height'])
            for img in (copy.good, copy.missing, copy.truncated, copy.png, copy.empty,
                        copy.good2)]


def test_png_named_jpg_is_decoded_by_content(bad_copy, shared_data):
    from mmcv.transforms import LoadImageFromFile
    path = bad_copy.path(bad_copy.png)
    raw = Path(path).read_bytes()
    assert ic.image_format(raw) == 'PNG' and ic.check_image_bytes(raw).problem is None
    img = LoadImageFromFile()(dict(img_path=path))['img']
    original = cv2.imread(str(shared_data / 'tiny_coco' / 'train2017' /
                              bad_copy.png['file_name']))
    assert img.shape == (bad_copy.png['height'], bad_copy.png['width'], 3)
    assert (img == original).all()  # PNG is lossless


def test_truncated_jpeg_caught_even_if_opencv_decodes_it(bad_copy, monkeypatch):
    import mmcv
    import numpy as np
    raw = Path(bad_copy.path(bad_copy.truncated)).read_bytes()
    # Some OpenCV builds return the decoded top part of a truncated JPEG.
    monkeypatch.setattr(mmcv, 'imfrombytes', lambda *a, **k: np.zeros((4, 4, 3), np.uint8))
    kind, detail = ic.check_image_bytes(raw).problem
    assert kind == ic.CORRUPT_IMAGE and 'truncated JPEG' in detail
    good = Path(bad_copy.path(bad_copy.good)).read_bytes()
    assert ic.check_image_bytes(good).problem is None


def test_check_image_files_drops_and_names_bad_files(bad_copy):
    listed = infos(bad_copy, str(bad_copy.img_dir))
    for decode, kinds in ((False, {ic.MISSING_IMAGE: 1}),
                          (True, {ic.MISSING_IMAGE: 1, ic.CORRUPT_IMAGE: 1})):
        for workers in (1, 4):  # threads change nothing but the speed
            report = DataReport('train.json')
            kept = ic.check_image_files(listed, report, 'train.json', decode=decode,
                                        workers=workers)
            assert dict(report.error_counts()) == kinds
            assert len(kept) == len(listed) - sum(kinds.values())
            assert not report.notes  # the PNG named .jpg only counts when compared
    where = report.errors[0].where
    assert where == f'{listed[1]["img_path"]} (image id {listed[1]["img_id"]} in train.json)'


def test_compare_annotation_reports_size_and_format(bad_copy):
    listed = infos(bad_copy, str(bad_copy.img_dir))
    good2 = listed[5]
    good2.update(width=good2['height'], height=good2['width'])  # as if EXIF-rotated
    report = DataReport('train.json')
    kept = ic.check_image_files(listed, report, 'train.json', decode=True,
                                compare_annotation=True)
    assert report.error_counts()[ic.SIZE_MISMATCH] == 1 and good2 not in kept
    [size] = [f for f in report.errors if f.kind == ic.SIZE_MISMATCH]
    assert 'swapped: EXIF orientation?' in size.detail
    assert report.notes == {ic.FORMAT_NOTE: 1}
    assert bad_copy.png['file_name'] in report.note_examples[ic.FORMAT_NOTE][0]


def test_files_are_read_through_backend_args(bad_copy):
    seen_root, backend_args = remapped(bad_copy.img_dir)
    listed = infos(bad_copy, seen_root)
    report = DataReport('train.json')
    kept = ic.check_image_files(listed, report, 'train.json', decode=True,
                                backend_args=backend_args)
    # The same two bad files as on local paths, not six missing ones.
    assert dict(report.error_counts()) == {ic.MISSING_IMAGE: 1, ic.CORRUPT_IMAGE: 1}
    assert len(kept) == 4
    png = ic.check_image_file(f'{seen_root}/{bad_copy.png["file_name"]}', True,
                              backend_args)
    assert (png.format, png.size) == ('PNG', (bad_copy.png['width'], bad_copy.png['height']))
    header = ic.header_size(f'{seen_root}/{bad_copy.good["file_name"]}', backend_args)
    assert header.size == (bad_copy.good['width'], bad_copy.good['height'])
    assert ic.header_size(f'{seen_root}/{bad_copy.missing["file_name"]}',
                          backend_args).problem == (ic.MISSING_IMAGE, '')
