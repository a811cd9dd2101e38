"""Finding weight files offline (``locate.py``): a path, torch.hub's cache for
``open-mmlab://`` names, URLs and bare file names; one clear error otherwise."""
import pytest

from ssd_ext.models.pretrained.locate import WeightsNotFoundError, locate_checkpoint

VGG16_CAFFE_URL = 'https://download.openmmlab.com/pretrain/third_party/vgg16_caffe-292e1171.pth'


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """An empty ``$TORCH_HOME/hub/checkpoints``."""
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch'))
    folder = tmp_path / 'torch' / 'hub' / 'checkpoints'
    folder.mkdir(parents=True)
    return folder


def test_open_mmlab_name_is_found_in_the_hub_cache(hub):
    path = hub / 'vgg16_caffe-292e1171.pth'
    path.write_bytes(b'x')
    assert locate_checkpoint('open-mmlab://vgg16_caffe') == path


def test_url_and_bare_name_are_found_in_the_hub_cache(hub):
    path = hub / 'vgg16-397923af.pth'
    path.write_bytes(b'x')
    assert locate_checkpoint('https://download.pytorch.org/models/vgg16-397923af.pth') == path
    assert locate_checkpoint('vgg16-397923af.pth') == path


def test_explicit_path_is_used_as_it_is(hub, tmp_path, monkeypatch):
    path = tmp_path / 'mine' / 'vgg.pth'
    path.parent.mkdir()
    path.write_bytes(b'x')
    assert locate_checkpoint(str(path)) == path
    monkeypatch.chdir(tmp_path)
    assert locate_checkpoint('mine/vgg.pth').resolve() == path


def test_absent_open_mmlab_file_says_what_to_fetch_and_where(hub):
    with pytest.raises(WeightsNotFoundError) as info:
        locate_checkpoint('open-mmlab://vgg16_caffe')
    message = str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    assert f'Fetch {VGG16_CAFFE_URL}' in message
    assert 'sha256 begins with 292e1171' in message
    assert str(hub / 'vgg16_caffe-292e1171.pth') in message
    assert f'mkdir -p {hub} && wget -P {hub} {VGG16_CAFFE_URL}' in message
    assert '--cfg-options model.backbone.init_cfg.checkpoint=PATH' in message
    assert '--cfg-options model.backbone.init_cfg=None' in message  # from scratch, on purpose


def test_absent_unknown_path_lists_where_it_looked(hub, tmp_path):
    missing = tmp_path / 'nowhere.pth'
    with pytest.raises(WeightsNotFoundError) as info:
        locate_checkpoint(str(missing))
    assert str(missing) in str(info.value) and 'Fetch' not in str(info.value)


def test_unknown_open_mmlab_name_and_scheme():
    with pytest.raises(KeyError, match="no 'vgg17'"):
        locate_checkpoint('open-mmlab://vgg17')
    with pytest.raises(ValueError, match='unsupported scheme'):
        locate_checkpoint('s3://bucket/vgg.pth')
