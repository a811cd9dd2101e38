"""Builds an INT8 engine of the random quickstart SSD160 and prints, as JSON,
what ``test_engines.py`` asserts on: run as ``python int8_engine_check.py
BACKEND WORK_DIR`` in a process of its own.

Why a process of its own: after an OpenVINO INT8 engine had run inside the
pytest process, a later MMEngine Runner training in that process
(``tests/engine/resume/test_train_loop.py``) died with a segmentation fault;
forking, DataLoader workers and plain training after it did not, and the cause
was not found. Both INT8 backends go through here alike.
"""
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[3]
sys.path[:0] = [str(REPO), str(REPO / 'tests')]


def main(backend: str, work_dir: str) -> None:
    from conftest import load_script

    from ssd_ext.data.synthetic_shapes import make_dataset
    from ssd_ext.deployment import load_inputs, onnx_detections, torch_detections
    from ssd_ext.deployment.agreement import image_agreement
    from ssd_ext.deployment.engines import EngineBuilder, load_engine
    onnx_fixtures = load_script(REPO / 'tests' / 'deployment' / 'onnx_fixtures.py')
    make_dataset(f'{work_dir}/shapes', num_train=1, num_val=4, seed=5, image_size=200)
    files = sorted(str(p) for p in Path(work_dir, 'shapes', 'val').glob('*.png'))
    model = onnx_fixtures.random_detector(REPO)
    data = load_inputs(model, files)[0]
    inputs = data['inputs'].numpy()
    builder = EngineBuilder(model, work_dir, (160, 160), lambda: [x[None] for x in inputs],
                            threads=1)
    engine, info = builder.build(backend)
    reopened = load_engine(info['file'])
    ref = torch_detections(model, data)
    got = onnx_detections(*engine(inputs), data['data_samples'])
    print(json.dumps(dict(
        precision=engine.precision, reopened_precision=reopened.precision,
        calibration_images=info['calibration_images'], images=len(inputs),
        quantised=info['quantised'], fp32=sorted(info['fp32']),
        agreement=[image_agreement(r, o, score_thr=0.3) for r, o in zip(ref, got)],
        same_labels_reopened=bool(np.array_equal(reopened(inputs)[1], engine(inputs)[1])))))


if __name__ == '__main__':
    main(*sys.argv[1:])
