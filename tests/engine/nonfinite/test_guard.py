"""NonFiniteGuard: a held-back step leaves weights and optimizer state as they
were, for PyTorch's optimizers in each implementation, and all ranks agree."""
import copy
import os

import pytest
import torch
import torch.distributed as torch_dist
import torch.multiprocessing as mp
from conftest import free_port
from mmengine.optim import OptimWrapper
from torch import nn

from ssd_ext.engine.nonfinite.diagnosis import Cause
from ssd_ext.engine.nonfinite.guard import NonFiniteGuard
from ssd_ext.engine.nonfinite.tensors import fmt

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
    """Returns a loss dict, as a detector's forward does in training mode;
    ``how`` makes the loss ('loss') or only the gradient ('grad') NaN."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(3, 2)

    def forward(self, x, how=None):
        loss = self.linear(x).pow(2).mean()
        if how == 'loss':
            loss = loss + torch.log(torch.tensor(-1.0))
        if how == 'grad':  # sqrt'(0) = inf, times 0: NaN gradient, loss unchanged
            loss = loss + torch.sqrt(self.linear.weight.sum() * 0)
        return dict(loss=loss)


def make(name, seed=0):
    torch.manual_seed(seed)
    model = LossModule()
    return model, OptimWrapper(OPTIMIZERS[name](model.parameters()))


def snapshot(model, wrapper):
    return copy.deepcopy(model.state_dict()), copy.deepcopy(wrapper.optimizer.state_dict())


def assert_same(a, b):
    torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize('name', list(OPTIMIZERS))
def test_held_back_step_leaves_weights_and_state_unchanged(name):
    model, wrapper = make(name)
    reference, ref_wrapper = make(name)
    guard = NonFiniteGuard(model, [wrapper])
    x = torch.randn(4, 3)
    for m, w in ((model, wrapper), (reference, ref_wrapper)):
        w.update_params(m(x)['loss'])  # a real step first: the state exists
    assert guard.take_skipped() is None
    before = snapshot(model, wrapper)
    wrapper.update_params(model(x, how='loss')['loss'])
    skipped = guard.take_skipped()
    assert skipped.trigger is Cause.LOSS and list(skipped.loss_terms) == ['loss']
    assert_same(snapshot(model, wrapper), before)
    # The next step is exactly the one of a run that never saw the bad batch
    # (Adam's step count included).
    for m, w in ((model, wrapper), (reference, ref_wrapper)):
        w.update_params(m(2 * x)['loss'])
    assert guard.take_skipped() is None
    assert_same(snapshot(model, wrapper), snapshot(reference, ref_wrapper))
    guard.remove()


@pytest.mark.parametrize('name', ['sgd momentum fused', 'adam'])
def test_first_step_held_back_creates_no_state(name):
    model, wrapper = make(name)
    NonFiniteGuard(model, [wrapper])
    wrapper.update_params(model(torch.randn(4, 3), how='loss')['loss'])
    assert wrapper.optimizer.state_dict()['state'] == {}


def test_nonfinite_gradient_of_a_finite_loss_is_held_back_unless_unchecked():
    model, wrapper = make('sgd')
    guard = NonFiniteGuard(model, [wrapper])
    before = snapshot(model, wrapper)
    wrapper.update_params(model(torch.randn(4, 3), how='grad')['loss'])
    skipped = guard.take_skipped()
    assert skipped.trigger is Cause.GRADIENT and skipped.loss_terms == {}
    assert skipped.params == [model.linear.weight]
    assert_same(snapshot(model, wrapper), before)
    guard = NonFiniteGuard(model, [wrapper], check_grads=False)
    wrapper.update_params(model(torch.randn(4, 3), how='grad')['loss'])
    assert guard.take_skipped() is None
    assert not torch.isfinite(model.linear.weight).all()


def test_window_ended_without_a_step_is_reported_once():
    """What AmpOptimWrapper's loss scaler does with overflowing gradients: the
    window ends without an optimizer step (nor its pre-hook)."""
    model, wrapper = make('sgd')
    guard = NonFiniteGuard(model, [wrapper])
    wrapper.backward(model(torch.randn(4, 3), how='loss')['loss'])
    wrapper.zero_grad()
    assert guard.take_skipped().trigger is Cause.LOSS
    before = snapshot(model, wrapper)
    wrapper.update_params(model(torch.randn(4, 3))['loss'])
    assert guard.take_skipped() is None  # the flag did not linger
    assert not torch.equal(model.linear.weight, before[0]['linear.weight'])


def scaled_step(model, wrapper, scaler, x, how=None, scale=1.0):
    """One AmpOptimWrapper-like iteration on the CPU (its own class needs a GPU):
    scaled backward, the loss scaler's step and update."""
    wrapper.backward(scaler.scale(model(x, how=how)['loss'] * scale))
    scaler.step(wrapper.optimizer)
    scaler.update()
    wrapper.zero_grad()


@pytest.mark.parametrize('fused', [True, False])
def test_under_a_loss_scaler(fused):
    """A fused SGD's step (and the pre-hook) runs even on a step the scaler
    skips, with scaled gradients, which are not checked; an unfused one's is not
    called at all, and the window is settled by take_skipped."""
    torch.manual_seed(0)
    model = LossModule()
    wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9,
                                           fused=fused))
    scaler = torch.amp.GradScaler('cpu', init_scale=2.0 ** 16)
    guard = NonFiniteGuard(model, [wrapper], check_grads=False)
    x = torch.randn(4, 3)
    before = snapshot(model, wrapper)
    scaled_step(model, wrapper, scaler, x, how='loss')  # finite scaled gradients
    assert guard.take_skipped().trigger is Cause.LOSS
    scaled_step(model, wrapper, scaler, x, how='loss', scale=1e36)  # they overflow
    assert guard.take_skipped().trigger is Cause.LOSS
    # Not even the momentum buffers fused SGD allocates on a skipped step.
    assert_same(snapshot(model, wrapper), before)
    # The scaler's own skip is not the guard's (SkipSafeAmpOptimWrapper makes
    # fused SGD's safe).
    scaled_step(model, wrapper, scaler, x, scale=1e36)
    assert guard.take_skipped() is None
    torch.testing.assert_close(model.state_dict(), before[0], rtol=0, atol=0)
    scaled_step(model, wrapper, scaler, x)
    assert guard.take_skipped() is None
    assert not torch.equal(model.linear.weight, before[0]['linear.weight'])


def test_held_back_accumulation_window_drops_every_gradient_of_it():
    """accumulative_counts=2: a non-finite loss in a window's second iteration
    holds back the window's step, the first iteration's gradient included."""
    torch.manual_seed(0)
    model = LossModule()
    wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1),
                           accumulative_counts=2)
    wrapper.initialize_count_status(model, 0, 8)
    guard = NonFiniteGuard(model, [wrapper])
    x = torch.ones(1, 3)
    start = model.linear.weight.detach().clone()
    wrapper.update_params(model(x)['loss'])
    wrapper.update_params(model(x, how='loss')['loss'])
    skipped = guard.take_skipped()
    assert skipped.trigger is Cause.LOSS
    assert {k: fmt(v) for k, v in skipped.loss_terms.items()} == {'loss': 'nan'}
    assert_same(model.linear.weight, start)
    assert all(p.grad is None or not p.grad.any() for p in model.parameters())
    wrapper.update_params(model(x)['loss'])
    wrapper.update_params(model(x)['loss'])
    assert guard.take_skipped() is None and not torch.equal(model.linear.weight, start)
    guard.remove()
    # Removed: a non-finite window now reaches the weights.
    wrapper.update_params(model(x)['loss'])
    wrapper.update_params(model(x, how='grad')['loss'])
    assert not torch.isfinite(model.linear.weight).all()


def test_eval_forward_and_batch_reference():
    model, wrapper = make('sgd')
    guard = NonFiniteGuard(model, [wrapper])
    model.eval()
    model(torch.randn(4, 3), how='loss')
    assert not guard.loss_pending
    model.train()
    x = torch.randn(4, 3)
    model(x, how='loss')
    assert guard.loss_pending
    wrapper.update_params(model(x)['loss'])
    skipped = guard.take_skipped()
    assert skipped.trigger is Cause.LOSS and not guard.loss_pending
    assert len(skipped.batches) == 2 and skipped.batches[0][0] is x


def test_registering_again_removes_the_previous_guard():
    model, wrapper = make('sgd')
    first = NonFiniteGuard(model, [wrapper])
    second = NonFiniteGuard(model, [wrapper])
    model(torch.randn(4, 3), how='loss')
    assert second.loss_pending and not first.loss_pending
    second.remove()
    # Neither guard holds back a step any more.
    wrapper.update_params(model(torch.randn(4, 3), how='grad')['loss'])
    assert not torch.isfinite(model.linear.weight).all()


def _agreement_worker(rank, port, out_dir):
    torch_dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}',
                                  rank=rank, world_size=2)
    model, wrapper = make('sgd momentum')
    guard = NonFiniteGuard(model, [wrapper])
    triggers = []
    for how in ('loss' if rank == 0 else None, None, 'grad' if rank == 1 else None):
        before = model.linear.weight.detach().clone()
        wrapper.update_params(model(torch.randn(4, 3), how=how)['loss'])
        skipped = guard.take_skipped()
        triggers.append((skipped.trigger.value if skipped else None,
                         torch.equal(model.linear.weight, before)))
    torch.save(triggers, os.path.join(out_dir, f'rank{rank}.pth'))
    torch_dist.destroy_process_group()


def test_ranks_agree_on_held_back_steps(tmp_path):
    mp.start_processes(_agreement_worker, args=(free_port(), str(tmp_path)), nprocs=2,
                       start_method='fork')
    rank0, rank1 = (torch.load(tmp_path / f'rank{r}.pth') for r in range(2))
    # (trigger, weights unchanged) per step: a step held back on one rank is
    # held back on the other, which names another rank.
    assert rank0 == [('loss', True), (None, False), ('another rank', True)]
    assert rank1 == [('another rank', True), (None, False), ('gradient', True)]
