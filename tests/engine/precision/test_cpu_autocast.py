"""CPUAutocastOptimWrapper: bf16 autocast forward passes, fp32 weight updates."""
import pytest
import torch
from torch import nn

from ssd_ext.engine.precision.cpu_autocast import CPUAutocastOptimWrapper


def test_cpu_autocast_wrapper_runs_forward_in_bf16_and_steps_fp32_weights():
    model = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 1))
    wrapper = CPUAutocastOptimWrapper(optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
    x = torch.randn(4, 8)
    before = model[0].weight.detach().clone()
    with wrapper.optim_context(model):
        out = model(x)
    assert out.dtype == torch.bfloat16
    wrapper.update_params(out.float().pow(2).mean())
    assert model[0].weight.dtype == torch.float32
    assert not torch.equal(model[0].weight, before)


def test_cpu_autocast_wrapper_rejects_unknown_dtype():
    with pytest.raises(ValueError, match="optim_wrapper.dtype must be 'bfloat16' or 'float16', "
                                         "got 'int8'"):
        CPUAutocastOptimWrapper(optimizer=torch.optim.SGD([nn.Parameter(torch.ones(1))], lr=1),
                                dtype='int8')
