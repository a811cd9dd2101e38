"""Prints which of ssd_ext's checkpoint types are on torch's allow-list right
after ``import ssd_ext`` in a fresh interpreter (``set()`` when importing
leaves the allow-list alone). Run by ``test_weights_only_loading.py`` as a script, so that
no earlier import of the test session can have touched the allow-list."""
import torch

import ssd_ext  # noqa: F401  (the import under test)
from ssd_ext.utils.checkpoint_io import mmengine_checkpoint_types


def main() -> None:
    print(set(mmengine_checkpoint_types()) & set(torch.serialization.get_safe_globals()))


if __name__ == '__main__':
    main()
