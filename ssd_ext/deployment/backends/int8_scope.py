"""Which parts of the exported graph INT8 quantisation touches, shared by the
ONNX Runtime and OpenVINO quantisers so that both keep the same parts in fp32.

The network's nodes are named after its modules by the exporter
(``/backbone/...``, ``/neck/...``, ``/bbox_head/...``); everything else is box
decoding, softmax and NMS.
"""
import re
from typing import Dict, Iterable, List, Sequence, Set, Tuple

import numpy as np

NETWORK_PREFIXES = ('/backbone/', '/neck/', '/bbox_head/')

# Kept in fp32, by node-name pattern, and why. A user's extra patterns are
# added to these (``--fp32-layers``).
FP32_LAYERS: Dict[str, str] = {
    r'^/neck/l2_norm/': 'L2Norm (a per-pixel norm, a division, a learned rescale '
                        'near 20) is element-wise work int8 does not speed up, on '
                        'the level that feeds the smallest, most numerous priors',
}
OUTSIDE_NETWORK = ('box decoding, softmax, top-k and NMS (every node outside '
                   '/backbone, /neck, /bbox_head): few operations, and 8-bit '
                   'box coordinates would move boxes by whole pixels')


INFINITE_PAD = ('ceil-mode max pooling of odd sizes pads with -inf, slices that '
                'padded tensor and takes the max of the slices: no 8-bit scale '
                'covers -inf')


# Ops whose output can still hold the -inf they read.
INF_CARRIERS = ('Pad', 'Slice', 'Max')


def infinite_pad_nodes(graph) -> Set[str]:
    """Names of the ONNX ``graph``'s Pad nodes whose constant value is -inf,
    of the Slice and Max nodes downstream of them (a max of two padded
    entries, the pool's corner, is -inf too), and of the first other nodes
    reading those: each has -inf among its outputs or inputs, which
    calibration would turn into an infinite scale (quantising a node
    quantises its inputs). The pool's last Max is finite, but nothing in the
    graph says so: it stays fp32 too, at the cost of one pooling."""
    from onnx import numpy_helper
    constants = {n.output[0]: numpy_helper.to_array(n.attribute[0].t)
                 for n in graph.node if n.op_type == 'Constant' and n.attribute}
    constants.update({i.name: numpy_helper.to_array(i) for i in graph.initializer})
    consumers: Dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    found, stack = set(), []
    for node in graph.node:
        value = constants.get(node.input[2]) if node.op_type == 'Pad' \
            and len(node.input) > 2 else None
        if value is not None and np.isneginf(value).any():
            stack.append(node)
    while stack:
        node = stack.pop()
        if node.name in found:
            continue
        found.add(node.name)
        if node.op_type in INF_CARRIERS:
            stack += [c for out in node.output for c in consumers.get(out, [])]
    return found


def split_nodes(names: Iterable[str], extra_fp32: Sequence[str] = (),
                always_fp32: Iterable[str] = ()) -> Tuple[List[str], List[str]]:
    """``(quantised, kept_fp32)``: network node names outside every fp32
    pattern and ``always_fp32``, and the network names kept. ``extra_fp32``
    patterns are regular expressions searched in node names; one that matches
    no network node is an error naming it (a typo would otherwise keep
    nothing)."""
    patterns = list(FP32_LAYERS) + list(extra_fp32)
    always = set(always_fp32)
    network = [n for n in names if n.startswith(NETWORK_PREFIXES)]
    for p in extra_fp32:
        if not any(re.search(p, n) for n in network):
            raise ValueError(f'--fp32-layers pattern {p!r} matches no network node '
                             f'(names look like {network[:2]})')
    kept = [n for n in network if n in always or any(re.search(p, n) for p in patterns)]
    kept_set = set(kept)
    return [n for n in network if n not in kept_set], kept


def fp32_reasons(extra_fp32: Sequence[str] = ()) -> Dict[str, str]:
    """What stays fp32 and why, for reports."""
    reasons = {'outside the network': OUTSIDE_NETWORK, 'Pad -inf': INFINITE_PAD,
               **FP32_LAYERS}
    reasons.update({p: 'asked for (--fp32-layers)' for p in extra_fp32})
    return reasons
