"""FastResumeIterBasedTrainLoop: a toy run resumed in-process is the same run,
whatever the number of DataLoader workers before and after, and loads no past
batch."""
import pytest
import torch

from ssd_ext.engine.resume.train_loop import STATE_KEY
from ssd_testkit.toy_training import loads, toy_runner


def _train(*args, **kwargs):
    runner = toy_runner(*args, **kwargs)
    runner.train()
    return runner


@pytest.mark.parametrize('workers, resumed_workers', [(0, 0), (2, 2), (0, 2), (2, 1)])
def test_resume_is_exact_for_any_number_of_workers(tmp_path, workers, resumed_workers):
    reference = _train(tmp_path / 'ref', workers, tmp_path / 'ref_loads')
    seen, weights = reference.model.seen, reference.model.w.detach().clone()
    assert len(seen) == 10
    # Checkpoints every 3 iterations, 2 kept; the pointer names the last one.
    names = sorted(p.name for p in (tmp_path / 'ref').glob('*.pth'))
    assert names == ['iter_10.pth', 'iter_9.pth']
    assert (tmp_path / 'ref' / 'last_checkpoint').read_text().endswith('iter_10.pth')
    del reference

    resumed = _train(tmp_path / 'ref', resumed_workers, tmp_path / 'resumed_loads',
                     resume_from=str(tmp_path / 'ref' / 'iter_9.pth'))
    # Same samples, same augmentation draws (main process or workers), same
    # model-side randomness, same weights.
    assert resumed.model.seen == seen[9:]
    assert torch.equal(resumed.model.w.detach(), weights)
    loaded = loads(tmp_path / 'resumed_loads')
    new_batch = seen[9]['idx']
    if resumed_workers == 0:
        assert loaded == new_batch  # the one new batch, nothing re-loaded
    else:  # plus what the workers prefetched (prefetch_factor 2 per worker),
        # in whatever order their lines interleave
        assert 2 <= len(loaded) <= 2 + 2 * 2 * resumed_workers
        assert all(loaded.count(i) >= new_batch.count(i) for i in new_batch), loaded


def test_draws_do_not_depend_on_the_number_of_workers(tmp_path):
    runs = [_train(tmp_path / str(n), n, tmp_path / f'loads{n}', max_iters=4).model.seen
            for n in (0, 2)]
    assert runs[0] == runs[1]
    # every sample and iteration draws anew, even when an image repeats
    assert len({s['py'][0] for s in runs[0]}) == 4
    assert len({s['noise'] for s in runs[0]}) == 4


def test_resume_mid_stream_with_workers(tmp_path):
    """Resume at iteration 3 of 10 with 2 workers: 7 more batches, both workers."""
    reference = _train(tmp_path / 'ref', 2, tmp_path / 'ref_loads').model.seen
    _train(tmp_path / 'short', 2, tmp_path / 'short_loads', max_iters=3)
    resumed = _train(tmp_path / 'short', 2, tmp_path / 'resumed_loads',
                     resume_from=str(tmp_path / 'short' / 'iter_3.pth'))
    assert resumed.model.seen == reference[3:]
    assert len(loads(tmp_path / 'resumed_loads')) <= 7 * 2 + 2 * 2 * 2


def test_resume_without_a_fixed_seed_uses_the_runs_seed(tmp_path):
    """A run launched without a seed draws one; resumed, it continues with that
    one (Runner.resume restores it), not the new session's."""
    kwargs = dict(max_iters=4, seed=None, interval=1, max_keep_ckpts=-1)
    reference = _train(tmp_path / 'ref', 2, tmp_path / 'ref_loads', **kwargs).model.seen
    resumed = _train(tmp_path / 'resumed', 2, tmp_path / 'loads',
                     resume_from=str(tmp_path / 'ref' / 'iter_1.pth'), **kwargs)
    assert resumed.model.seen == reference[1:]


def test_load_from_is_not_a_resume(tmp_path):
    first = _train(tmp_path / 'ref', 0, tmp_path / 'loads', max_iters=3).model.seen[0]
    # load_from without resume: weights only, the data stream starts at 0.
    again = _train(tmp_path / 'again', 0, tmp_path / 'loads2',
                   load_from=str(tmp_path / 'ref' / 'iter_3.pth'), max_iters=1)
    assert again.model.seen[0]['idx'] == first['idx']


def test_loop_state_travels_in_the_message_hub_of_each_checkpoint(tmp_path):
    from ssd_ext.utils.checkpoint_io import safe_load
    _train(tmp_path, 0, tmp_path / 'loads', max_iters=3)
    state = safe_load(tmp_path / 'iter_3.pth')['message_hub']['runtime_info'][STATE_KEY]
    assert state == dict(version=3, seed=11, global_batch=2)


def test_checkpoint_without_loop_state_resumes_with_a_warning(tmp_path, capsys):
    """A checkpoint of another loop: positioned by iteration x global batch,
    seeded with the run seed of its meta."""
    from ssd_ext.utils.checkpoint_io import atomic_torch_save
    from ssd_ext.utils.checkpoint_io import safe_load
    reference = _train(tmp_path / 'ref', 0, tmp_path / 'ref_loads', max_iters=4).model.seen
    ckpt = safe_load(tmp_path / 'ref' / 'iter_3.pth')
    del ckpt['message_hub']['runtime_info'][STATE_KEY]
    atomic_torch_save(ckpt, tmp_path / 'stateless.pth')
    resumed = _train(tmp_path / 'resumed', 0, tmp_path / 'loads', max_iters=4,
                     resume_from=str(tmp_path / 'stateless.pth'))
    assert f'has no {STATE_KEY} of version 3' in capsys.readouterr().out
    assert resumed.model.seen == reference[3:]
    assert loads(tmp_path / 'loads') == reference[3]['idx']  # nothing re-loaded


def test_a_changed_global_batch_is_refused(tmp_path):
    _train(tmp_path / 'ref', 0, tmp_path / 'loads', max_iters=3)
    resumed = toy_runner(tmp_path / 'resumed', 0, tmp_path / 'loads2', batch_size=3,
                         resume_from=str(tmp_path / 'ref' / 'iter_3.pth'))
    with pytest.raises(ValueError, match=r'global batch of 2 samples, this run has 3 '
                                         r'\(1 processes x batch_size 3\)'):
        resumed.train()


def test_another_sampler_is_refused(tmp_path):
    runner = toy_runner(tmp_path, 0, tmp_path / 'loads', sampler='InfiniteSampler')
    with pytest.raises(ValueError, match='needs train_dataloader.sampler of type '
                                         'ResumableInfiniteSampler'):
        runner.train()


@pytest.mark.parametrize('max_iters', [2.5, '10'])
def test_max_iters_must_be_a_whole_number(tmp_path, max_iters):
    runner = toy_runner(tmp_path, 0, tmp_path / 'loads', max_iters=max_iters)
    with pytest.raises(ValueError, match=f'train_cfg.max_iters must be an integer, '
                                         f'got {max_iters!r}'):
        runner.train()
