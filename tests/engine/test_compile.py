"""compile_network: the compiled detector finds what the eager one finds, with
the weights frozen while it runs and Inductor's process-wide flag as it was."""
import pytest
import torch
import torch._inductor.config as inductor_config
from mmengine.config import Config

import ssd_ext  # noqa: F401  (registers modules)
from ssd_ext.engine.compile import compile_network, inductor_freezing
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample


def test_compiled_network_gives_the_eager_detections(repo_root):
    cfg = Config.fromfile(str(repo_root / 'configs/quickstart/ssd160_shapes.py'))
    # At full width: the quarter-width quickstart network's random-init logits
    # reach ~50, where softmax scores saturate at 1.0 and the order of exact ties
    # (hence which boxes NMS keeps) depends on last-bit differences.
    channels = (512, 1024, 512, 256, 256)
    cfg.merge_from_dict({'model.backbone.widen_factor': 1.0,
                         'model.neck.in_channels': channels[:2],
                         'model.neck.out_channels': channels,
                         'model.bbox_head.in_channels': channels})
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.eval()
    size = int(cfg.model.bbox_head.prior_generator.input_size)
    images = torch.randint(0, 256, (2, 3, size, size), dtype=torch.uint8)
    samples = [DetDataSample(metainfo=dict(img_shape=(size, size), ori_shape=(size, size),
                                           scale_factor=(1.0, 1.0))) for _ in range(2)]

    def detect():
        with torch.no_grad():
            data = model.data_preprocessor(dict(inputs=list(images),
                                                data_samples=samples), False)
            return model(**data, mode='predict')

    eager = detect()
    compiled_model = compile_network(model)
    assert compiled_model is model
    torch._dynamo.utils.counters.clear()
    compiled = detect()
    # Frozen: oneDNN's weight prepacking only matches weights that are constants.
    assert torch._dynamo.utils.counters['inductor']['mkldnn_conv_weight_pack_matcher_count'] > 0
    assert inductor_config.freezing is False
    for e, c in zip(eager, compiled):
        e, c = e.pred_instances, c.pred_instances
        assert len(e) > 0 and len(e) == len(c)
        torch.testing.assert_close(c.scores, e.scores, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(c.bboxes, e.bboxes, rtol=1e-4, atol=1e-2)
        assert torch.equal(c.labels, e.labels)


def test_freezing_is_scoped_to_the_block():
    before = inductor_config.freezing
    with pytest.raises(RuntimeError):
        with inductor_freezing():
            assert inductor_config.freezing is True
            raise RuntimeError('a failing call')
    assert inductor_config.freezing is before
