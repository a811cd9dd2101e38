"""``ssd_ext/deployment/deploy_table.py``: rows, the table and the release checks."""
from ssd_ext.deployment.deploy_table import deploy_rows, failed_checks, format_table


def result(ap50, parity_ok=True, latency=10.0):
    return dict(metrics={'coco/bbox_mAP': ap50 / 2, 'coco/bbox_mAP_50': ap50},
                parity=dict(ok=parity_ok, images_matched=3 if parity_ok else 2, images=3,
                            max_box_diff=0.0, max_score_diff=0.0, box_atol=1e-2,
                            score_atol=1e-4),
                agreement=dict(reference=10, matched=9, recall=0.9, mean_iou=0.9,
                               mean_box_diff=0.5, mean_score_diff=0.01, max_box_diff=2.0,
                               max_score_diff=0.1),
                speed={1: dict(latency_ms=latency, images_per_s=1000 / latency),
                       8: dict(latency_ms=8 * latency, images_per_s=1000 / latency)},
                build=dict(build_s=1.0))


def rows(**engines):
    results = dict(pytorch=result(0.80, latency=20.0), **engines)
    return deploy_rows(results, 'pytorch')


def test_rows_against_the_reference():
    r = {row['engine']: row for row in rows(**{'onnxruntime-int8': result(0.795)})}
    assert r['onnxruntime-int8']['ap50'] == 79.5
    assert abs(r['onnxruntime-int8']['ap50_vs_ref'] + 0.5) < 1e-9
    assert r['onnxruntime-int8']['speedup'] == 2.0


def test_table_has_one_line_per_engine_and_names_skipped_ones():
    table = format_table(rows(**{'onnxruntime-fp32': result(0.80),
                                 'tensorrt-fp16': dict(skipped='needs a CUDA GPU')}))
    lines = table.splitlines()
    assert len(lines) == 2 + 3
    assert '| batch 1 ms | batch 8 img/s | batch 1 speed-up | build s |' in lines[0]
    assert 'skipped: needs a CUDA GPU' in lines[-1]
    assert '| onnxruntime-fp32 | 40.0 | 80.0 | +0.0 | yes (3/3) |' in table


def test_checks_pass_within_the_bars():
    assert failed_checks(rows(**{'onnxruntime-fp32': result(0.80),
                                 'openvino-int8': result(0.791)}), 1.0) == []


def test_checks_fail_on_fp32_mismatch_and_int8_loss():
    failures = failed_checks(rows(**{'openvino-fp32': result(0.80, parity_ok=False),
                                     'onnxruntime-int8': result(0.785)}), 1.0)
    assert len(failures) == 2
    assert failures[0].startswith('openvino-fp32: detections differ') and '1 of 3' in failures[0]
    assert failures[1].startswith('onnxruntime-int8: AP50 78.5 is 1.5 points below')
