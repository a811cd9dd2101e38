"""Finiteness checks of gradients and checkpoints."""
import torch
from torch import nn

from ssd_ext.engine.nonfinite.checkpoint_scan import nonfinite_checkpoint_entries
from ssd_ext.engine.nonfinite.tensors import nonfinite_grads, shorten

NAN = float('nan')


def test_nonfinite_grads_names_culprits_or_largest():
    params = [nn.Parameter(torch.zeros(3)) for _ in range(7)]
    for i, p in enumerate(params):
        p.grad = torch.full((3,), float(i))
    assert nonfinite_grads(params) == []
    params[2].grad[1] = NAN
    assert [id(p) for p in nonfinite_grads(params)] == [id(params[2])]
    # All finite, but their norm overflows: the five largest are named.
    # (float32 squares overflow above 3.4e38, so each norm here is finite)
    for i, value in ((2, 1.2e19), (4, 1.1e19), (5, 1.3e19)):
        params[i].grad = torch.tensor([value, 0., 0.])
    largest = nonfinite_grads(params)
    assert [id(p) for p in largest] == [id(params[i]) for i in (5, 2, 4, 6, 3)]


def test_nonfinite_checkpoint_entries():
    good = dict(state_dict={'w': torch.ones(2), 'n': torch.tensor(3)},
                optimizer=dict(state={0: dict(momentum_buffer=torch.ones(2))},
                               param_groups=[]))
    assert nonfinite_checkpoint_entries(good) == []
    bad = dict(state_dict={'w': torch.tensor([1., NAN])},
               optimizer=dict(state={0: dict(momentum_buffer=torch.tensor([float('inf')]),
                                             step=torch.tensor(1.))}, param_groups=[]))
    assert nonfinite_checkpoint_entries(bad) == [
        'w', 'optimizer state 0.momentum_buffer']
    # OptimWrapperDict: {name: optimizer state_dict}
    by_name = dict(state_dict={}, optimizer=dict(
        generator=dict(state={1: dict(exp_avg=torch.tensor([NAN]))}, param_groups=[])))
    assert nonfinite_checkpoint_entries(by_name) == ['optimizer state generator.1.exp_avg']


def test_shorten():
    assert shorten(['a', 'b']) == 'a, b'
    assert shorten([str(i) for i in range(8)]) == '0, 1, 2, 3, 4 and 3 more'
