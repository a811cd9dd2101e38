"""The image checks: image files that are missing, unreadable or not decodable.

Used by the checked datasets (at load, and for a sample that fails at fetch
time) and by ``tools/analysis/check_dataset.py``. Files are read through
MMEngine's file backends (``backend_args``), as ``LoadImageFromFile`` reads
them, so a dataset on another storage is checked where it lives.

Errors (``on_bad_image``)
    a file missing, unreadable, or not decodable (corrupt or truncated).
    Images are decoded by content (OpenCV, as ``LoadImageFromFile`` does), not
    by extension: a PNG named ``.jpg`` is fine.
With ``compare_annotation`` (the tool)
    a decoded size that differs from the annotation's width and height is an
    error (boxes were checked against the wrong size); content whose format is
    not the extension's is a note.
"""
import io
import os
import os.path as osp
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import List, Optional, Tuple

from mmengine import fileio

from ssd_ext.data.data_report import DataReport, Problem

MISSING_IMAGE = 'image file missing'
UNREADABLE_IMAGE = 'image file unreadable'
CORRUPT_IMAGE = 'image file not decodable'
SIZE_MISMATCH = 'image size differs from width/height in the annotation file'
FORMAT_NOTE = 'image content is not the format of its extension (decoded by content: fine)'
EXTENSIONS = {'.jpg': 'JPEG', '.jpeg': 'JPEG', '.png': 'PNG', '.bmp': 'BMP',
              '.tif': 'TIFF', '.tiff': 'TIFF', '.webp': 'WEBP'}


@dataclass(frozen=True)
class ImageCheck:
    """Result of an image check: ``problem`` or ``None``; once decoded, the
    content's ``format`` and ``size`` (width, height)."""
    problem: Optional[Problem] = None
    format: Optional[str] = None
    size: Optional[Tuple[int, int]] = None


def image_format(raw: bytes) -> str:
    """The format the bytes are in, by their magic number."""
    if raw.startswith(b'\xff\xd8'):
        return 'JPEG'
    if raw.startswith(b'\x89PNG\r\n\x1a\n'):
        return 'PNG'
    if raw[:4] in (b'II*\x00', b'MM\x00*'):
        return 'TIFF'
    if raw.startswith(b'BM'):
        return 'BMP'
    if raw[:4] == b'RIFF' and raw[8:12] == b'WEBP':
        return 'WEBP'
    return 'unknown'


def check_image_bytes(raw: bytes) -> ImageCheck:
    """Decodes the bytes as ``LoadImageFromFile`` does (by content)."""
    import mmcv
    if not raw:
        return ImageCheck((CORRUPT_IMAGE, 'empty file'))
    fmt = image_format(raw)
    try:
        img = mmcv.imfrombytes(raw, flag='color')
    except Exception as err:  # cv2.error and friends
        return ImageCheck((CORRUPT_IMAGE, f'{type(err).__name__}: {str(err).strip()}'))
    if img is None:
        return ImageCheck((CORRUPT_IMAGE, f'corrupt or truncated {fmt} data'))
    # Some OpenCV builds decode a truncated JPEG (grey below the cut) with only
    # a warning; a JPEG must end with its EOI marker, else ask PIL.
    if fmt == 'JPEG' and not raw.rstrip(b'\x00\r\n ').endswith(b'\xff\xd9'):
        problem = pil_problem(raw)
        if problem:
            return ImageCheck((CORRUPT_IMAGE, f'truncated JPEG data ({problem})'))
    height, width = img.shape[:2]
    return ImageCheck(format=fmt, size=(width, height))


def pil_problem(raw: bytes) -> Optional[str]:
    """PIL's complaint about decoding every pixel of the bytes, or ``None``."""
    from PIL import Image
    try:
        with Image.open(io.BytesIO(raw)) as im:
            im.load()
    except Exception as err:  # OSError('image file is truncated ...') and friends
        return str(err)
    return None


def check_image_file(path: str, decode: bool = True,
                     backend_args: Optional[dict] = None) -> ImageCheck:
    """Checks that ``path`` exists and, with ``decode``, decodes."""
    try:
        if not fileio.exists(path, backend_args=backend_args):
            return ImageCheck((MISSING_IMAGE, ''))
        if not decode:
            return ImageCheck()
        raw = fileio.get(path, backend_args=backend_args)
    except OSError as err:
        return ImageCheck((UNREADABLE_IMAGE, str(err)))
    return check_image_bytes(raw)


def header_size(path: str, backend_args: Optional[dict] = None) -> ImageCheck:
    """The image's format and size from its header only (cheap: for
    annotations that lack the size), or the file's problem."""
    from PIL import Image
    check = check_image_file(path, decode=False, backend_args=backend_args)
    if check.problem:
        return check
    try:
        # A local path, so that PIL reads the header and not the whole file
        # (other backends fetch the file to a temporary one).
        with fileio.get_local_path(path, backend_args=backend_args) as local, \
                Image.open(local) as im:
            return ImageCheck(format=im.format, size=im.size)
    except Exception as err:  # PIL's UnidentifiedImageError, OSError and friends
        return ImageCheck((CORRUPT_IMAGE, f'{type(err).__name__}: {err}'))


def image_where(info: dict, ann_file: str) -> str:
    """``IMG_PATH (image id I in ANN_FILE)`` for messages."""
    return f'{info["img_path"]} (image id {info["img_id"]} in {ann_file})'


def matches_annotation(info: dict, check: ImageCheck, report: DataReport,
                       where: str) -> bool:
    """Whether a decoded image has the size its data info says; a wrong size
    is recorded as an error, content not of its extension's format as a note."""
    expected = EXTENSIONS.get(osp.splitext(info['img_path'])[1].lower())
    if expected and check.format != expected:
        report.note(FORMAT_NOTE, f'{where}: {check.format} data')
    annotated = (info['width'], info['height'])
    if check.size == annotated:
        return True
    (w, h), (aw, ah) = check.size, annotated
    # A portrait photo stored landscape with an EXIF rotation swaps them.
    hint = ' (swapped: EXIF orientation?)' if (h, w) == annotated else ''
    report.error(SIZE_MISMATCH, where, f'file {w}x{h}, annotation {aw}x{ah}{hint}')
    return False


def check_image_files(data_list: List[dict], report: DataReport, ann_file: str,
                      decode: bool, backend_args: Optional[dict] = None,
                      workers: Optional[int] = None,
                      compare_annotation: bool = False) -> List[dict]:
    """The data infos (``img_path``, ``img_id``, ``width``, ``height``) whose
    image file passes; problems are recorded in ``report`` (see the module
    docstring for ``compare_annotation``). Decoding runs on ``workers`` threads
    (default: up to 8); existence checks run on one."""
    if workers is None:
        workers = min(8, os.cpu_count() or 1)

    def check(info: dict) -> ImageCheck:
        return check_image_file(info['img_path'], decode, backend_args)

    if decode and workers > 1:
        # Decoding releases the GIL (OpenCV), so threads scale with the cores.
        with ThreadPoolExecutor(workers) as pool:
            checks = list(pool.map(check, data_list))
    else:
        checks = [check(info) for info in data_list]
    kept = []
    for info, result in zip(data_list, checks):
        where = image_where(info, ann_file)
        if result.problem:
            report.error(result.problem[0], where, result.problem[1])
            continue
        if not (compare_annotation and result.size) or \
                matches_annotation(info, result, report, where):
            kept.append(info)
    return kept


__all__ = ['ImageCheck', 'image_format', 'check_image_bytes', 'check_image_file',
           'header_size', 'image_where', 'check_image_files', 'MISSING_IMAGE',
           'UNREADABLE_IMAGE', 'CORRUPT_IMAGE', 'SIZE_MISMATCH', 'FORMAT_NOTE']
