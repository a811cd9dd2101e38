"""``ssd_ext/deployment/preprocess.py``: the in-graph preprocessing, built
from the config's ``data_preprocessor`` dict, gives the network input that
the data preprocessor built from the same dict gives."""
import pytest
import torch
from mmdet.structures import DetDataSample

from ssd_ext.deployment import GraphPreprocess
from ssd_ext.registry import MODELS

NORMALISE = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375])
CONFIGS = [dict(type='DetDataPreprocessor', bgr_to_rgb=True, **NORMALISE),
           dict(type='DetDataPreprocessor', rgb_to_bgr=True, **NORMALISE),
           dict(type='DetDataPreprocessor', mean=[127.5], std=[2.0]),
           dict(type='DetDataPreprocessor')]


@pytest.mark.parametrize('cfg', CONFIGS)
@pytest.mark.parametrize('channel_order', ['bgr', 'rgb'])
def test_matches_data_preprocessor(cfg, channel_order):
    torch.manual_seed(0)
    images = torch.randint(0, 256, (2, 12, 16, 3), dtype=torch.uint8)  # BGR
    reference = MODELS.build(cfg)
    samples = [DetDataSample(metainfo=dict(img_shape=(12, 16))) for _ in images]
    expected = reference(dict(inputs=list(images.permute(0, 3, 1, 2)),
                              data_samples=samples), False)['inputs']
    fed = images if channel_order == 'bgr' else images.flip(-1)
    got = GraphPreprocess(cfg, channel_order)(fed)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, expected, rtol=0, atol=0)


def test_rejects_unknown_channel_order():
    with pytest.raises(ValueError, match='channel_order'):
        GraphPreprocess(CONFIGS[0], 'gbr')
