"""The guarded optim wrapper: a skipped step leaves weights and optimizer state as
they were, for PyTorch's optimizers in each implementation, under gradient
accumulation and a loss scaler, and all ranks agree."""
import copy
import os

import pytest
import torch
import torch.distributed as torch_dist
import torch.multiprocessing as mp
from conftest import free_port
from mmengine.optim import OptimWrapper, OptimWrapperDict
from torch import nn

from ssd_ext.engine.nonfinite.guard import guard, guard_all, skip_cause
from ssd_ext.engine.precision import CPUAutocastOptimWrapper, SkipSafeAmpOptimWrapper

OPTIMIZERS = {
    'sgd': lambda p: torch.optim.SGD(p, lr=0.1),
    'sgd momentum': lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, foreach=False),
    'sgd momentum foreach': lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9,
                                                      foreach=True),
    'sgd momentum fused': lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, fused=True),
    'adam': lambda p: torch.optim.Adam(p, lr=0.1, foreach=False),
    'adam fused': lambda p: torch.optim.Adam(p, lr=0.1, fused=True),
    'adamw': lambda p: torch.optim.AdamW(p, lr=0.1, weight_decay=0.1, foreach=False),
    'adamw foreach': lambda p: torch.optim.AdamW(p, lr=0.1, weight_decay=0.1,
                                                 foreach=True),
}


class LossModule(nn.Module):
    """``how`` makes the loss ('loss') or only the gradient ('grad') NaN."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(3, 2)

    def forward(self, x, how=None):
        loss = self.linear(x).pow(2).mean()
        if how == 'loss':
            loss = loss + torch.log(torch.tensor(-1.0))
        if how == 'grad':  # sqrt'(0) = inf, times 0: NaN gradient, loss unchanged
            loss = loss + torch.sqrt(self.linear.weight.sum() * 0)
        return loss


def make(name='sgd', seed=0, wrapper_type=OptimWrapper, **kwargs):
    torch.manual_seed(seed)
    model = LossModule()
    return model, wrapper_type(OPTIMIZERS[name](model.parameters()), **kwargs)


def snapshot(model, wrapper):
    return copy.deepcopy(model.state_dict()), copy.deepcopy(wrapper.optimizer.state_dict())


def assert_same(a, b):
    torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize('name', list(OPTIMIZERS))
def test_skipped_step_leaves_weights_and_state_unchanged(name):
    model, wrapper = make(name)
    reference, ref_wrapper = make(name)
    guard(wrapper)
    x = torch.randn(4, 3)
    for m, w in ((model, wrapper), (reference, ref_wrapper)):
        w.update_params(m(x))  # a real step first: the state exists
    assert wrapper.take_outcome().cause is None
    before = snapshot(model, wrapper)
    wrapper.update_params(model(x, how='loss'))
    assert wrapper.take_outcome().cause == 'loss'
    assert wrapper.take_outcome() is None  # taken once
    assert_same(snapshot(model, wrapper), before)
    # The next step is exactly the one of a run that never saw the bad batch
    # (Adam's step count included).
    for m, w in ((model, wrapper), (reference, ref_wrapper)):
        w.update_params(m(2 * x))
    assert wrapper.take_outcome().cause is None
    assert_same(snapshot(model, wrapper), snapshot(reference, ref_wrapper))


@pytest.mark.parametrize('name', ['sgd momentum fused', 'adam'])
def test_first_step_skipped_creates_no_state(name):
    model, wrapper = make(name)
    guard(wrapper).update_params(model(torch.randn(4, 3), how='loss'))
    assert wrapper.optimizer.state_dict()['state'] == {}
    assert all(p.grad is None for p in model.parameters())


def test_nonfinite_gradient_of_a_finite_loss_is_skipped_unless_unchecked():
    model, wrapper = make(wrapper_type=CPUAutocastOptimWrapper)
    before = snapshot(model, wrapper)
    guard(wrapper).update_params(model(torch.randn(4, 3), how='grad'))
    outcome = wrapper.take_outcome()
    assert outcome.cause == 'gradient' and list(outcome.params) == [model.linear.weight]
    assert_same(snapshot(model, wrapper), before)
    guard(wrapper, check_grads=False).update_params(model(torch.randn(4, 3), how='grad'))
    assert wrapper.take_outcome().cause is None
    assert not torch.isfinite(model.linear.weight).all()


def test_guard_keeps_the_wrapper_and_its_class():
    model, wrapper = make()
    wrappers = guard_all(OptimWrapperDict(a=wrapper))
    assert wrappers == [wrapper] and isinstance(wrapper, OptimWrapper)
    cls = type(wrapper)
    assert guard(wrapper) is wrapper and type(wrapper) is cls  # guarding again: no-op
    with pytest.raises(TypeError, match='guards an OptimWrapper'):
        guard(torch.optim.SGD(model.parameters(), lr=0.1))


def test_accumulated_step_with_a_nonfinite_micro_batch_is_skipped_whole():
    """accumulative_counts=2: a NaN loss in a window's second micro-batch skips
    the window's step, the first micro-batch's gradient included."""
    model, wrapper = make(accumulative_counts=2)
    wrapper.initialize_count_status(model, 0, 8)
    guard(wrapper)
    x = torch.ones(1, 3)
    start = model.linear.weight.detach().clone()
    wrapper.update_params(model(x, how='loss'))
    assert wrapper.take_outcome() is None and wrapper.poisoned  # no step due yet
    wrapper.update_params(model(x))
    assert wrapper.take_outcome().cause == 'loss' and not wrapper.poisoned
    assert_same(model.linear.weight, start)
    assert all(p.grad is None or not p.grad.any() for p in model.parameters())
    wrapper.update_params(model(x))
    wrapper.update_params(model(x))
    assert wrapper.take_outcome().cause is None
    assert not torch.equal(model.linear.weight, start)


def amp_wrapper(model, monkeypatch):
    """``SkipSafeAmpOptimWrapper`` over fused momentum SGD, built with CUDA faked,
    stepping with a CPU loss scaler."""
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    wrapper = SkipSafeAmpOptimWrapper(
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, fused=True))
    monkeypatch.undo()
    wrapper.loss_scaler = torch.amp.GradScaler('cpu', init_scale=2.0 ** 16)
    return wrapper


def test_loss_scaler_skips_are_not_counted_and_still_work(monkeypatch):
    model = LossModule()
    wrapper = guard(amp_wrapper(model, monkeypatch))
    x = torch.randn(4, 3)
    before = snapshot(model, wrapper)
    # Scaled gradients overflow: the scaler skips the step and halves its scale.
    wrapper.update_params(model(x) * 1e36)
    assert wrapper.take_outcome().cause is None
    assert wrapper.loss_scaler.get_scale() == 2.0 ** 15
    assert_same(model.state_dict(), before[0])
    # A NaN loss: the guard skips it, before the scaler (whose scale stays).
    wrapper.update_params(model(x, how='loss'))
    assert wrapper.take_outcome().cause == 'loss'
    assert wrapper.loss_scaler.get_scale() == 2.0 ** 15
    assert_same(model.state_dict(), before[0])
    wrapper.update_params(model(x))
    assert wrapper.take_outcome().cause is None
    assert not torch.equal(model.linear.weight, before[0]['linear.weight'])


def test_skip_cause():
    assert skip_cause((0, 0), (0, 0)) is None
    assert skip_cause((1, 1), (1, 1)) == 'loss'
    # Another rank's NaN loss, averaged into this rank's gradients by DDP.
    assert skip_cause((0, 1), (1, 1)) == 'another rank'
    assert skip_cause((0, 1), (0, 1)) == 'gradient'
    assert skip_cause((0, 0), (0, 1)) == 'another rank'


def _agreement_worker(rank, port, out_dir):
    torch_dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}',
                                  rank=rank, world_size=2)
    model, wrapper = make('sgd momentum')
    guard(wrapper)
    outcomes = []
    for how in ('loss' if rank == 0 else None, None, 'grad' if rank == 1 else None):
        before = model.linear.weight.detach().clone()
        wrapper.update_params(model(torch.randn(4, 3), how=how))
        outcomes.append((wrapper.take_outcome().cause, torch.equal(model.linear.weight, before)))
    torch.save(outcomes, os.path.join(out_dir, f'rank{rank}.pth'))
    torch_dist.destroy_process_group()


def test_ranks_agree_on_skipped_steps(tmp_path):
    mp.start_processes(_agreement_worker, args=(free_port(), str(tmp_path)), nprocs=2,
                       start_method='fork')
    rank0, rank1 = (torch.load(tmp_path / f'rank{r}.pth') for r in range(2))
    # (cause, weights unchanged) per step: a step skipped on one rank is skipped
    # on the other, which names another rank.
    assert rank0 == [('loss', True), (None, False), ('another rank', True)]
    assert rank1 == [('another rank', True), (None, False), ('gradient', True)]
