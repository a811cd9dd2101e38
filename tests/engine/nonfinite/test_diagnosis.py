"""The diagnosis of a held-back step: the most specific cause and its advice."""
import torch
from mmdet.structures import DetDataSample
from mmdet.structures.bbox import HorizontalBoxes
from mmengine.structures import InstanceData
from torch import nn

from ssd_ext.engine.nonfinite.diagnosis import (Cause, Findings, batch_problems, diagnose,
                                                optimizer_state_items, parameter_names)

NAN = float('nan')


def sample(path, boxes, box_type=torch.tensor):
    data_sample = DetDataSample(metainfo=dict(img_path=path))
    data_sample.gt_instances = InstanceData(bboxes=box_type(boxes))
    return data_sample


def test_batch_problems_name_the_image():
    samples = [sample('a.jpg', [[0., 0., 10., 10.]]),
               sample('b.jpg', [[0., 0., 10., 10.], [1., NAN, 5., 5.]]),
               sample('c.jpg', [[5., 0., 5., 10.]], box_type=lambda b: HorizontalBoxes(b))]
    inputs = torch.zeros(3, 3, 8, 8)
    inputs[0, 1, 2, 3] = float('inf')
    assert batch_problems(inputs, samples) == [
        'a.jpg: non-finite input values',
        'b.jpg: gt box 1 [1.0, nan, 5.0, 5.0] is not finite',
        'c.jpg: gt box 0 [5.0, 0.0, 5.0, 10.0] has x2 <= x1 or y2 <= y1']
    assert batch_problems(torch.zeros(3, 3, 8, 8), samples[:1]) == []
    # Without data samples the position in the batch is named.
    assert batch_problems([torch.ones(2), torch.full((2,), NAN)], None) == [
        'sample 1 of the batch: non-finite input values']
    assert batch_problems(None, None) == []


def test_data_cause_names_the_image():
    diagnosis = diagnose(Findings(trigger=Cause.LOSS, bad_data=[
        'b.jpg: gt box 1 [1.0, nan, 5.0, 5.0] is not finite']))
    assert diagnosis.cause is Cause.DATA and 'b.jpg: gt box 1' in diagnosis.evidence
    assert 'check_dataset.py' in diagnosis.advice


def test_nonfinite_optimizer_state_comes_first():
    """Non-finite weights or state explain everything else, and their advice is
    about the optimizer, not the lr."""
    for findings in (Findings(trigger=Cause.LOSS, bad_weights=['linear.weight'],
                              bad_data=['a.jpg: non-finite input values']),
                     Findings(trigger=Cause.GRADIENT,
                              bad_state=['linear.weight.momentum_buffer'])):
        diagnosis = diagnose(findings)
        assert diagnosis.cause is Cause.OPTIMIZER_STATE
        assert 'SkipSafeAmpOptimWrapper' in diagnosis.advice
        assert 'fused=False' in diagnosis.advice
        assert 'does not help' in diagnosis.advice
        assert 'known case below' not in diagnosis.advice
    diagnosis = diagnose(Findings(trigger=Cause.LOSS, bad_weights=['w'], bad_state=['w.m'],
                                  unprotected_fused_sgd=True))
    assert diagnosis.evidence == 'non-finite weights w and optimizer state w.m'
    assert diagnosis.advice.startswith('This run is the known case below.')


def test_without_other_findings_the_trigger_is_the_cause():
    loss = diagnose(Findings(trigger=Cause.LOSS))
    assert loss.cause is Cause.LOSS and loss.evidence == ''
    assert 'lower the lr' in loss.advice and "action='skip'" in loss.advice
    gradient = diagnose(Findings(trigger=Cause.GRADIENT))
    assert gradient.cause is Cause.GRADIENT and 'unbounded derivative' in gradient.advice
    other = diagnose(Findings(trigger=Cause.OTHER_RANK))
    assert other.cause is Cause.OTHER_RANK and 'its log' in other.advice


def test_optimizer_state_items_are_named_by_parameter():
    model = nn.Linear(2, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.ones(1, 2)).sum().backward()
    optimizer.step()
    names = parameter_names(model)
    assert sorted(k for k, _ in optimizer_state_items(optimizer, names)) == [
        'bias.momentum_buffer', 'weight.momentum_buffer']
