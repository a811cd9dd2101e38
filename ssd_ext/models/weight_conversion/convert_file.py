"""What every converter CLI does (``tools/model_converters/*_to_ssd_ext.py``):
check the source's hash prefix, convert its state dict, write a weights-only
file with its ``.sha256``."""
import argparse
from pathlib import Path
from typing import Callable, Dict, Optional

from torch import Tensor

from ssd_ext.models.pretrained.checksum import check_source, save_checked
from ssd_ext.models.weight_conversion.common import unwrap_state_dict
from ssd_ext.utils.checkpoint_io import safe_load

Converter = Callable[[Dict[str, Tensor]], Dict[str, Tensor]]


def convert_file(src: Path, dst: Path, convert: Converter,
                 describe: Optional[Callable[[Dict[str, Tensor]], str]] = None) -> None:
    """Checks ``src`` (``check_source``), converts it and saves ``dst`` and
    ``dst.sha256``, printing each step; ``describe`` names the layout found."""
    print(check_source(src))
    state = unwrap_state_dict(safe_load(src), str(src))
    if describe is not None:
        print(f'layout: {describe(state)}')
    converted = convert(state)
    digest = save_checked(converted, {'converted_from': Path(src).name}, dst)
    print(f'wrote {len(converted)} tensors to {dst} (sha256 {digest}, in {dst}.sha256)')


def converter_main(doc: str, source: str, convert: Converter,
                   describe: Optional[Callable[[Dict[str, Tensor]], str]] = None) -> None:
    """``SCRIPT SRC DST`` for a converter whose module docstring is ``doc``."""
    parser = argparse.ArgumentParser(description=doc,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('src', type=Path, help=f'{source} checkpoint')
    parser.add_argument('dst', type=Path, help='output checkpoint for ssd_ext')
    args = parser.parse_args()
    convert_file(args.src, args.dst, convert, describe)
