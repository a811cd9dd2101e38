"""What sha256 a weight file must have, and the check (``checksum.py``)."""
import hashlib
import re

import pytest

from ssd_ext.models.pretrained.checksum import (check_source, expected_sha256,
                                                name_hash_prefix, sha256_of, verify_sha256,
                                                write_sidecar)


@pytest.fixture
def weights(tmp_path):
    path = tmp_path / 'weights.pth'
    path.write_bytes(b'some weights' * 1000)
    return path


def digest_of(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_sha256_of_reads_in_chunks(weights):
    assert sha256_of(weights, chunk=7) == digest_of(weights)


@pytest.mark.parametrize('name, prefix', [
    ('vgg16_caffe-292e1171.pth', '292e1171'),
    ('ssd300_coco_20210803_015428-d231a06e.pth', 'd231a06e'),
    ('vgg16_features-amdegroot-88682ab5.pth', '88682ab5'),
    ('vgg16_reducedfc.pth', None),
    ('model-abc.pth', None),  # too short: torch.hub's regex would accept any file
    ('model-292E1171.pth', None)])
def test_name_hash_prefix(name, prefix):
    assert name_hash_prefix(name) == prefix


def test_config_sha256_wins_over_the_name(tmp_path):
    path = tmp_path / 'vgg16_caffe-292e1171.pth'
    path.write_bytes(b'x')
    assert expected_sha256(path, 'ABCDEF0123') == ('abcdef0123', "the config's sha256")
    assert expected_sha256(path) == ('292e1171', 'the hash prefix in its file name')


def test_sidecar_is_the_last_source(weights):
    digest = write_sidecar(weights)
    assert digest == digest_of(weights)
    assert (weights.parent / 'weights.pth.sha256').read_text() == f'{digest}  weights.pth\n'
    assert expected_sha256(weights) == (digest, str(weights) + '.sha256')
    assert verify_sha256(weights).startswith(f'sha256 {digest[:16]}... matches')


def test_a_file_with_no_checksum_is_refused_with_its_digest(weights):
    with pytest.raises(ValueError, match='has no checksum to check') as info:
        verify_sha256(weights)
    assert f"sha256='{digest_of(weights)}'" in str(info.value)


@pytest.mark.parametrize('bad', ['1234', 'xyz12345678', '0' * 65])
def test_malformed_config_sha256(weights, bad):
    with pytest.raises(ValueError, match=re.escape(f'sha256={bad!r}')):
        expected_sha256(weights, bad)


def test_malformed_sidecar(weights):
    (weights.parent / 'weights.pth.sha256').write_text('not a digest\n')
    with pytest.raises(ValueError, match='expected a sha256sum line'):
        expected_sha256(weights)


def test_mismatch_names_file_digests_and_source(tmp_path, weights):
    path = tmp_path / 'vgg16_caffe-292e1171.pth'
    path.write_bytes(b'a truncated download')
    with pytest.raises(ValueError) as info:
        verify_sha256(path)
    message = str(info.value)
    assert str(path) in message and digest_of(path) in message
    assert 'does not match 292e1171 (the hash prefix in its file name)' in message
    with pytest.raises(ValueError, match="the config's sha256"):
        verify_sha256(weights, '0' * 64)


def test_check_source_checks_named_files_and_reports_others(tmp_path, weights):
    assert 'not checked (no hash prefix in its name)' in check_source(weights)
    assert digest_of(weights) in check_source(weights)
    good = tmp_path / f'w-{digest_of(weights)[:8]}.pth'
    good.write_bytes(weights.read_bytes())
    assert 'matches the hash prefix' in check_source(good)
    bad = tmp_path / 'w-00000000.pth'
    bad.write_bytes(b'z')
    with pytest.raises(ValueError, match='does not match 00000000'):
        check_source(bad)
