"""NonFiniteLossHook: a NaN loss or gradient never reaches the weights or a
checkpoint; the step is stopped on or skipped and counted.

A toy model (BatchNorm + Linear, a few hundred ns per step) is trained by a real
MMEngine Runner; at a chosen iteration its loss turns NaN, either through a NaN
input (which also poisons BatchNorm's running statistics) or in one loss term.
"""
import math
import uuid

import pytest
import torch
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.optim import OptimWrapper
from mmengine.runner import Runner
from torch import nn
from torch.utils.data import Dataset

from ssd_ext.engine.nonfinite.loss_hook import (DOCS, NonFiniteLossError, NonFiniteLossHook,
                                                nonfinite_entries)
from ssd_ext.utils.checkpoint_io import safe_load


class ToyData(Dataset):
    def __len__(self):
        return 64

    def __getitem__(self, idx):
        g = torch.Generator().manual_seed(idx)
        return dict(inputs=torch.randn(2, generator=g))


class ToyModel(BaseModel):
    """``bad`` maps a forward call number (1-based) to how it goes wrong:
    'input' (NaN input), 'term' (loss_b only) or 'grad' (finite loss, NaN grad)."""

    def __init__(self, bad=None):
        super().__init__()
        self.bn = nn.BatchNorm1d(2)
        self.linear = nn.Linear(2, 1)
        self.bad = bad or {}
        self.calls = 0

    def forward(self, inputs, data_samples=None, mode='tensor'):
        self.calls += 1
        how = self.bad.get(self.calls)
        x = torch.stack(inputs)
        if how == 'input':
            x = x * float('nan')
        y = self.linear(self.bn(x))
        losses = dict(loss_a=(y ** 2).mean(), loss_b=(y - 1).abs().mean())
        if how == 'term':
            losses['loss_b'] = losses['loss_b'] + torch.log(torch.tensor(-1.0))
        if how == 'grad':  # sqrt'(0) = inf, times 0: NaN gradient, loss 0
            losses['loss_c'] = torch.sqrt(self.linear.weight.sum() * 0)
        return losses


class RecordHook(Hook):
    """Model state after every iteration (after every other hook)."""

    priority = 'LOWEST'

    def __init__(self):
        self.states = []

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self.states.append({k: v.clone() for k, v in runner.model.state_dict().items()})


def make_runner(tmp_path, model, hook_cfg, max_iters=8, optim_type='OptimWrapper',
                extra_hooks=(), optimizer=None, accumulative_counts=1):
    return Runner(
        model=model,
        work_dir=str(tmp_path / 'work'),
        experiment_name=f'nonfinite_{uuid.uuid4().hex[:8]}',
        default_scope='mmdet',
        train_dataloader=dict(dataset=ToyData(), batch_size=4, num_workers=0,
                              sampler=dict(type='DefaultSampler', shuffle=False)),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        optim_wrapper=dict(type=optim_type, accumulative_counts=accumulative_counts,
                           optimizer=optimizer or dict(type='SGD', lr=0.1)),
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', interval=2, by_epoch=False),
            logger=dict(type='LoggerHook', interval=1)),
        custom_hooks=[hook_cfg, *extra_hooks],
        log_level='WARNING')


def stop_message(runner):
    """The message of the NonFiniteLossError that stops ``runner.train()``."""
    with pytest.raises(NonFiniteLossError) as info:
        runner.train()
    return str(info.value)


def finite(state):
    return all(bool(torch.isfinite(v).all()) for v in state.values()
               if v.is_floating_point())


def test_stop_names_iteration_and_term_and_keeps_last_checkpoint(tmp_path):
    model = ToyModel(bad={5: 'term'})
    runner = make_runner(tmp_path, model, dict(type='NonFiniteLossHook'))
    msg = stop_message(runner)
    assert msg.startswith('non-finite loss_b=nan at iteration 5; the optimizer step of '
                          'iteration 5 was skipped on every rank')
    assert 'weights of iteration 4' in msg and DOCS in msg
    work = tmp_path / 'work'
    assert (work / 'iter_4.pth').is_file() and not (work / 'iter_6.pth').exists()
    ckpt = safe_load(work / 'iter_4.pth')
    assert ckpt['meta']['iter'] == 4 and finite(ckpt['state_dict'])
    # The NaN step was not taken: the model is exactly the checkpoint.
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, ckpt['state_dict'][key], rtol=0, atol=0)


def test_skip_leaves_weights_and_bn_stats_unchanged_counts_and_goes_on(tmp_path):
    model = ToyModel(bad={3: 'input'})
    record = RecordHook()
    runner = make_runner(tmp_path, model, dict(type='NonFiniteLossHook', action='skip'),
                         extra_hooks=[record])
    runner.train()
    states = record.states
    assert len(states) == 8
    for key in states[1]:  # after iteration 2 == after (skipped) iteration 3
        torch.testing.assert_close(states[2][key], states[1][key], rtol=0, atol=0)
    assert not torch.equal(states[3]['linear.weight'], states[2]['linear.weight'])
    assert all(finite(s) for s in states)
    assert runner.message_hub.get_scalar('train/nonfinite_skips').current() == 1
    assert finite(safe_load(tmp_path / 'work' / 'iter_8.pth')['state_dict'])
    # The NaN is kept out of the logged losses.
    logged = runner.message_hub.get_scalar('train/loss').data[0]
    assert len(logged) == 7 and all(math.isfinite(v) for v in logged)


def test_checkpoint_with_nonfinite_values_is_not_written(tmp_path):
    model = ToyModel()
    runner = make_runner(tmp_path, model, dict(type='NonFiniteLossHook'), max_iters=1,
                         optimizer=dict(type='SGD', lr=0.1, momentum=0.9))
    runner.train()
    with torch.no_grad():
        model.linear.weight.fill_(float('nan'))
    runner.optim_wrapper.optimizer.state[model.bn.weight]['momentum_buffer'].fill_(
        float('inf'))
    with pytest.raises(NonFiniteLossError, match=r'refusing to save the checkpoint of '
                       r'iteration 1: NaN/inf in state_dict\.linear\.weight, '
                       r'optimizer\.state\.0\.momentum_buffer'):
        runner.save_checkpoint(str(tmp_path / 'work'), 'nan.pth')
    assert not (tmp_path / 'work' / 'nan.pth').exists()


def test_nonfinite_entries():
    nan = float('nan')
    tree = dict(state_dict={'w': torch.ones(2), 'n': torch.tensor(3), 'v': torch.tensor([nan])},
                optimizer=dict(state={0: dict(exp_avg=torch.tensor([float('-inf')]))},
                               param_groups=[dict(lr=0.1, params=[0])]))
    assert nonfinite_entries(tree) == ['state_dict.v', 'optimizer.state.0.exp_avg']
    assert nonfinite_entries(dict(a=[torch.zeros(2), None, 'x'])) == []


def test_skip_stops_after_too_many_in_a_row(tmp_path):
    model = ToyModel(bad={i: 'term' for i in range(3, 20)})
    runner = make_runner(tmp_path, model,
                         dict(type='NonFiniteLossHook', action='skip',
                              max_consecutive_skips=2),
                         optim_type='CPUAutocastOptimWrapper')
    msg = stop_message(runner)
    assert 'iteration 5' in msg and '(3 in a row, max_consecutive_skips=2)' in msg
    assert 'weights of iteration 2' in msg
    ckpt = safe_load(tmp_path / 'work' / 'iter_4.pth')  # written after 2 skips
    assert finite(ckpt['state_dict'])


def test_nonfinite_gradient_of_a_finite_loss_names_the_parameter(tmp_path):
    model = ToyModel(bad={2: 'grad'})
    runner = make_runner(tmp_path, model, dict(type='NonFiniteLossHook'))
    msg = stop_message(runner)
    assert msg.startswith('non-finite gradients of linear.weight (the loss was finite); '
                          'the optimizer step of iteration 2 was skipped')
    assert finite(model.state_dict())


def test_skip_with_accumulation_drops_the_whole_step(tmp_path):
    model = ToyModel(bad={3: 'term'})  # steps at iterations 2, 4, 6, 8
    record = RecordHook()
    runner = make_runner(tmp_path, model, dict(type='NonFiniteLossHook', action='skip'),
                         extra_hooks=[record], accumulative_counts=2)
    runner.train()
    weight = [s['linear.weight'] for s in record.states]
    torch.testing.assert_close(weight[3], weight[1], rtol=0, atol=0)  # step 3-4 skipped
    assert not torch.equal(weight[5], weight[3]) and all(finite(s) for s in record.states)
    assert runner.message_hub.get_scalar('train/nonfinite_skips').current() == 1


def test_stop_with_accumulation_names_the_iteration_of_the_loss(tmp_path):
    model = ToyModel(bad={3: 'term'})
    runner = make_runner(tmp_path, model, dict(type='NonFiniteLossHook'),
                         accumulative_counts=2)
    msg = stop_message(runner)
    assert msg.startswith('non-finite loss_b=nan at iteration 3; the optimizer step of '
                          'iteration 4 was skipped')
    assert 'weights of iteration 2' in msg


class OwnStepModel(ToyModel):
    """A train_step that steps the optimizer without the optim wrapper."""

    def train_step(self, data, optim_wrapper):
        losses = super().train_step(data, OptimWrapper(optim_wrapper.optimizer))
        return losses


def test_nonfinite_loss_that_bypassed_the_guard_stops(tmp_path):
    runner = make_runner(tmp_path, OwnStepModel(bad={2: 'term'}),
                         dict(type='NonFiniteLossHook', action='skip'))
    assert "did not pass through an optim wrapper's update_params" in stop_message(runner)


def test_hook_arguments_are_checked():
    with pytest.raises(ValueError, match=r"action='ignore' is not allowed; choose one "
                                         r"of \['stop', 'skip'\]"):
        NonFiniteLossHook(action='ignore')
    with pytest.raises(ValueError, match='max_consecutive_skips must be an int >= 1'):
        NonFiniteLossHook(max_consecutive_skips=0)


def test_messages_point_to_an_existing_docs_section(repo_root):
    path, anchor = DOCS.split('#')
    headings = [line.lstrip('#').strip().lower().replace(' ', '-')
                for line in (repo_root / path).read_text().splitlines() if line.startswith('#')]
    assert anchor in headings
