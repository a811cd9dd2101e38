"""NonFiniteLossHook: a NaN loss never reaches the weights or a checkpoint.

A toy model (BatchNorm + Linear, a few hundred ns per step) is trained by a real
MMEngine Runner; at a chosen iteration its loss turns NaN, either through a NaN
input (which also poisons BatchNorm's running statistics) or in one loss term.
"""
import math
import uuid

import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.runner import Runner
from mmengine.structures import InstanceData
from torch import nn
from torch.utils.data import Dataset

from ssd_ext.engine.nonfinite.loss_hook import NonFiniteLossError, NonFiniteLossHook
from ssd_ext.utils.checkpoint import safe_load


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
                extra_hooks=(), dataset=None, optimizer=None, accumulative_counts=1):
    return Runner(
        model=model,
        work_dir=str(tmp_path / 'work'),
        experiment_name=f'nonfinite_{uuid.uuid4().hex[:8]}',
        default_scope='mmdet',
        train_dataloader=dict(dataset=dataset or ToyData(), batch_size=4, num_workers=0,
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
    assert 'non-finite loss at iteration 5' in msg
    assert 'loss_b=nan' in msg and 'finite: loss_a' in msg
    assert 'weights are those of iteration 4' in msg
    assert 'Likely cause: loss.' in msg
    work = tmp_path / 'work'
    assert (work / 'iter_4.pth').is_file() and not (work / 'iter_6.pth').exists()
    ckpt = safe_load(work / 'iter_4.pth')
    assert ckpt['meta']['iter'] == 4 and finite(ckpt['state_dict'])
    # The NaN step was not taken: the model is exactly the checkpoint.
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, ckpt['state_dict'][key])


def test_skip_leaves_weights_and_bn_stats_unchanged_and_goes_on(tmp_path):
    model = ToyModel(bad={3: 'input'})
    record = RecordHook()
    runner = make_runner(tmp_path, model, dict(type='NonFiniteLossHook', action='skip'),
                         extra_hooks=[record])
    runner.train()
    states = record.states
    assert len(states) == 8
    for key in states[1]:  # after iteration 2 == after (skipped) iteration 3
        torch.testing.assert_close(states[2][key], states[1][key])
    assert not torch.equal(states[3]['linear.weight'], states[2]['linear.weight'])
    assert all(finite(s) for s in states)
    hook = next(h for h in runner.hooks if isinstance(h, NonFiniteLossHook))
    assert hook.skipped == 1
    assert finite(safe_load(tmp_path / 'work' / 'iter_8.pth')['state_dict'])
    # The NaN is kept out of the logged losses.
    logged = runner.message_hub.get_scalar('train/loss').data[0]
    assert len(logged) == 7 and all(math.isfinite(v) for v in logged)
    # Last line of defence: a checkpoint with NaN weights is not written.
    with torch.no_grad():
        model.linear.weight.fill_(float('nan'))
    with pytest.raises(NonFiniteLossError, match='refusing to save a checkpoint'):
        runner.save_checkpoint(str(tmp_path / 'work'), 'nan.pth')
    assert not (tmp_path / 'work' / 'nan.pth').exists()


def test_skip_stops_after_too_many_in_a_row(tmp_path):
    model = ToyModel(bad={i: 'term' for i in range(3, 20)})
    runner = make_runner(tmp_path, model,
                         dict(type='NonFiniteLossHook', action='skip',
                              max_consecutive_skips=2),
                         optim_type='CPUAutocastOptimWrapper')
    msg = stop_message(runner)
    assert 'iteration 5' in msg and 'max_consecutive_skips=2' in msg
    ckpt = safe_load(tmp_path / 'work' / 'iter_4.pth')  # written after 2 skips
    assert finite(ckpt['state_dict'])


def test_nonfinite_gradient_of_a_finite_loss(tmp_path):
    model = ToyModel(bad={2: 'grad'})
    runner = make_runner(tmp_path, model, dict(type='NonFiniteLossHook'))
    msg = stop_message(runner)
    assert 'non-finite gradients at iteration 2' in msg and 'linear.weight' in msg
    assert 'Likely cause: gradient.' in msg
    assert finite(model.state_dict())


class BoxData(ToyData):
    """ToyData with one ground-truth box per image; image ``nan_box`` has a NaN
    box."""

    def __init__(self, nan_box):
        self.nan_box = nan_box

    def __getitem__(self, idx):
        sample = DetDataSample(metainfo=dict(img_path=f'img_{idx}.jpg'))
        box = [1., 2., 5., float('nan') if idx == self.nan_box else 9.]
        sample.gt_instances = InstanceData(bboxes=torch.tensor([box]))
        return dict(super().__getitem__(idx), data_samples=sample)


class BoxModel(ToyModel):
    """Regresses the log of the box heights (as SSD encodes box sizes)."""

    def forward(self, inputs, data_samples=None, mode='tensor'):
        losses = super().forward(inputs, data_samples, mode)
        boxes = torch.cat([s.gt_instances.bboxes for s in data_samples])
        target = torch.log(boxes[:, 3] - boxes[:, 1])
        y = self.linear(torch.stack(inputs)).squeeze(1)
        losses['loss_box'] = (y - target).abs().mean()
        return losses


def test_stop_on_a_nan_box_names_the_image(tmp_path):
    model = BoxModel()
    runner = make_runner(tmp_path, model, dict(type='NonFiniteLossHook'),
                         dataset=BoxData(nan_box=10))  # batch 3: images 8-11
    msg = stop_message(runner)
    assert 'non-finite loss at iteration 3: loss_box=nan (finite: loss_a, loss_b)' in msg
    assert ('Likely cause: data (img_10.jpg: gt box 0 [1.0, 2.0, 5.0, nan] is not '
            'finite)') in msg
    assert 'check_dataset.py' in msg
    assert finite(model.state_dict())


def test_stop_on_nan_optimizer_state_blames_the_optimizer(tmp_path):
    """A NaN momentum buffer (as PyTorch's fused SGD leaves after a step the
    loss scaler skipped) turns finite gradients into NaN weights; the next loss
    is NaN, and the advice is about the optimizer, not the lr."""
    model = ToyModel()

    class PoisonMomentum(Hook):
        priority = 'LOWEST'  # after the checkpoint of iteration 2

        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
            if runner.iter == 1:
                state = runner.optim_wrapper.optimizer.state[model.linear.weight]
                state['momentum_buffer'].fill_(float('nan'))

    runner = make_runner(tmp_path, model, dict(type='NonFiniteLossHook'),
                         extra_hooks=[PoisonMomentum()],
                         optimizer=dict(type='SGD', lr=0.1, momentum=0.9))
    msg = stop_message(runner)
    assert 'non-finite loss at iteration 4' in msg
    assert ('Likely cause: optimizer state (non-finite weights linear.weight and '
            'optimizer state linear.weight.momentum_buffer)') in msg
    assert 'SkipSafeAmpOptimWrapper' in msg and 'fused=False' in msg
    work = tmp_path / 'work'
    assert finite(safe_load(work / 'iter_2.pth')['state_dict'])
    assert not (work / 'iter_4.pth').exists()


def test_skip_with_accumulation_drops_the_whole_window(tmp_path):
    model = ToyModel(bad={3: 'term'})  # windows: iterations 1-2, 3-4, 5-6, 7-8
    record = RecordHook()
    runner = make_runner(tmp_path, model, dict(type='NonFiniteLossHook', action='skip'),
                         extra_hooks=[record], accumulative_counts=2)
    runner.train()
    states = record.states
    weight = [s['linear.weight'] for s in states]
    torch.testing.assert_close(weight[3], weight[1])  # window 3-4 skipped
    assert not torch.equal(weight[5], weight[3]) and all(finite(s) for s in states)
    hook = next(h for h in runner.hooks if isinstance(h, NonFiniteLossHook))
    assert hook.skipped == 1 and hook.pending_since is None
    logged = runner.message_hub.get_scalar('train/loss').data[0]
    assert len(logged) == 7 and all(math.isfinite(v) for v in logged)


def test_stop_with_accumulation_names_the_iteration_of_the_loss(tmp_path):
    model = ToyModel(bad={3: 'term'})
    runner = make_runner(tmp_path, model, dict(type='NonFiniteLossHook'),
                         accumulative_counts=2)
    msg = stop_message(runner)
    assert ('non-finite loss at iteration 3 (its accumulation window ends at '
            'iteration 4): loss_b=nan') in msg
    assert 'weights are those of iteration 2' in msg


def test_hook_arguments_are_checked():
    with pytest.raises(ValueError, match=r"action='ignore' is not allowed; choose one "
                                         r"of \['stop', 'skip'\]"):
        NonFiniteLossHook(action='ignore')
    with pytest.raises(ValueError, match='max_consecutive_skips'):
        NonFiniteLossHook(max_consecutive_skips=0)
