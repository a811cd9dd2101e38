"""Finding the image files a tool is pointed at."""
import os
import os.path as osp
from typing import List

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')


def image_files(path: str) -> List[str]:
    """``path`` itself, or the images in folder ``path`` (sorted)."""
    if osp.isdir(path):
        files = sorted(osp.join(path, f) for f in os.listdir(path)
                       if f.lower().endswith(IMAGE_EXTENSIONS))
        if not files:
            raise FileNotFoundError(
                f'no images ({", ".join(IMAGE_EXTENSIONS)}) in folder {path}')
        return files
    if not osp.isfile(path):
        raise FileNotFoundError(f'no such image or folder: {path}')
    return [path]
