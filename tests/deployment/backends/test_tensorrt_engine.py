"""``ssd_ext/deployment/backends/tensorrt_engine.py``.

Without a CUDA GPU and the tensorrt package, the TensorRT backends must refuse
with what they need (checked everywhere). With both (``pytest -m cuda`` on a
GPU machine), fp16 and INT8 engines are built from the random SSD160 and
compared with PyTorch: fp16 boxes within 0.5 px of fp32's for the confident
detections, INT8 finding most of them.
"""
import pytest
import torch

from ssd_ext.deployment.backends.build import EngineBuilder, unavailable
from ssd_ext.deployment.backends.tensorrt_engine import tensorrt_unavailable
from ssd_testkit.backend_fixtures import small_model  # noqa: F401 (fixture)


@pytest.mark.skipif(torch.cuda.is_available(), reason='a CUDA GPU is here')
def test_without_a_gpu_the_backends_say_so(small_model, tmp_path):  # noqa: F811
    reason = tensorrt_unavailable()
    assert reason == 'needs a CUDA GPU (torch.cuda.is_available() is False)'
    for backend in ('tensorrt-fp16', 'tensorrt-int8'):
        assert unavailable(backend) == reason
        builder = EngineBuilder(small_model[0], str(tmp_path), (160, 160), list)
        with pytest.raises(RuntimeError, match=f'{backend}: needs a CUDA GPU'):
            builder.build(backend)


@pytest.mark.cuda
@pytest.mark.skipif(tensorrt_unavailable() is not None,
                    reason=f'TensorRT {tensorrt_unavailable()}')
@pytest.mark.parametrize('backend,min_recall', [('tensorrt-fp16', 0.95),
                                                ('tensorrt-int8', 0.5)])
def test_tensorrt_engines_follow_pytorch(small_model, tmp_path, backend,  # noqa: F811
                                         min_recall):
    from ssd_ext.deployment import load_inputs, onnx_detections, torch_detections
    from ssd_ext.deployment.agreement import image_agreement, summarise
    from ssd_ext.deployment.backends import load_engine
    model, _, inputs, files = small_model
    builder = EngineBuilder(model, str(tmp_path), (160, 160),
                            lambda: [x[None] for x in inputs], max_batch=4)
    engine, info = builder.build(backend)
    data = load_inputs(model, files)[0]
    ref = torch_detections(model, data)
    got = onnx_detections(*engine(data['inputs'].numpy()), data['data_samples'])
    agreement = summarise(image_agreement(r, o, score_thr=0.3) for r, o in zip(ref, got))
    print(backend, agreement)
    assert agreement['reference'] > 0 and agreement['recall'] >= min_recall, agreement
    if backend == 'tensorrt-fp16':
        assert agreement['max_box_diff'] <= 0.5, agreement
    # The serialised engine reopens by its suffix and gives the same labels.
    again = load_engine(info['file'])
    assert (again(data['inputs'].numpy())[1] == engine(data['inputs'].numpy())[1]).all()
