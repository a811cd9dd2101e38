"""FastResumeIterBasedTrainLoop: a toy run resumed in-process is the same run,
with and without DataLoader workers, and loads no past batch."""
import time

import pytest
import torch

from ssd_ext.engine.resume.train_loop import STATE_KEY
from toy_training import loads, toy_runner


@pytest.mark.parametrize('num_workers', [0, 2])
def test_toy_resume_is_exact_and_loads_no_past_batch(tmp_path, num_workers):
    ref_log, res_log = tmp_path / 'ref_loads', tmp_path / 'resumed_loads'
    runner = toy_runner(tmp_path / 'ref', num_workers, ref_log)
    runner.train()
    reference, ref_w = runner.model.seen, runner.model.w.detach().clone()
    del runner
    assert len(reference) == 10
    # Checkpoints every 3 iterations, 2 kept; the pointer names the last one.
    names = sorted(p.name for p in (tmp_path / 'ref').glob('*.pth'))
    assert names == ['iter_10.pth', 'iter_9.pth']
    assert (tmp_path / 'ref' / 'last_checkpoint').read_text().endswith('iter_10.pth')

    resumed_run = toy_runner(tmp_path / 'ref', num_workers, res_log,
                             resume_from=str(tmp_path / 'ref' / 'iter_9.pth'))
    started = time.perf_counter()
    resumed_run.train()
    print(f'\ntoy resume (num_workers={num_workers}): data stream positioned in '
          f'{resumed_run.train_loop.resume_seconds:.4f} s, whole resumed run '
          f'{time.perf_counter() - started:.2f} s')
    resumed = resumed_run.model.seen
    # Same samples, same augmentation draws (main process or workers), same
    # model-side randomness, same weights.
    assert resumed == reference[9:]
    assert torch.equal(resumed_run.model.w.detach(), ref_w)
    loaded = loads(res_log)
    if num_workers == 0:
        assert loaded == reference[9]['idx']  # the one new batch, nothing re-loaded
    else:  # plus what the workers prefetched (prefetch_factor 2 per worker)
        assert 2 <= len(loaded) <= 2 + 2 * 2 * num_workers
        # Workers append to the log concurrently, so their lines interleave:
        # the new batch is in it, in whatever order.
        new_batch = reference[9]['idx']
        assert all(loaded.count(i) >= new_batch.count(i) for i in new_batch), loaded
    if num_workers:
        # The restored worker did not restart its stream from the seed (which
        # is what the first batch of the run drew).
        assert resumed[0]['py'] != reference[0]['py']


def test_toy_resume_mid_stream_with_workers(tmp_path):
    """Resume at iteration 3 of 10 with 2 workers: 7 more batches, both workers."""
    runner = toy_runner(tmp_path / 'ref', 2, tmp_path / 'ref_loads', max_iters=10)
    runner.train()
    reference = runner.model.seen
    del runner
    res_log = tmp_path / 'resumed_loads'
    # iter_3.pth was deleted by max_keep_ckpts; write the checkpoint of a
    # shorter run of the same config instead.
    short = toy_runner(tmp_path / 'short', 2, tmp_path / 'short_loads', max_iters=3)
    short.train()
    del short
    resumed_run = toy_runner(tmp_path / 'short', 2, res_log,
                             resume_from=str(tmp_path / 'short' / 'iter_3.pth'))
    resumed_run.train()
    assert resumed_run.model.seen == reference[3:]
    assert len(loads(res_log)) <= 7 * 2 + 2 * 2 * 2


def test_resume_without_a_fixed_seed_before_every_worker_produced_a_batch(tmp_path):
    """At iteration 1 of a run with 2 workers, worker 1 has no saved state yet: it
    is seeded with the run's seed (which Runner.resume restores), not with the
    new session's random one."""
    runner = toy_runner(tmp_path / 'ref', 2, tmp_path / 'ref_loads', max_iters=4,
                        seed=None, interval=1, max_keep_ckpts=-1)
    runner.train()
    reference = runner.model.seen
    del runner
    resumed = toy_runner(tmp_path / 'resumed', 2, tmp_path / 'loads', max_iters=4,
                         seed=None, interval=1, max_keep_ckpts=-1,
                         resume_from=str(tmp_path / 'ref' / 'iter_1.pth'))
    resumed.train()
    assert resumed.model.seen == reference[1:]


def test_toy_load_from_is_not_a_resume(tmp_path):
    runner = toy_runner(tmp_path / 'ref', 0, tmp_path / 'loads', max_iters=3)
    runner.train()
    first = runner.model.seen[0]
    del runner
    # load_from without resume: weights only, the data stream starts at 0.
    again = toy_runner(tmp_path / 'again', 0, tmp_path / 'loads2',
                       load_from=str(tmp_path / 'ref' / 'iter_3.pth'), max_iters=1)
    again.train()
    assert again.model.seen[0]['idx'] == first['idx']


def test_loop_state_travels_in_the_message_hub_of_each_checkpoint(tmp_path):
    from ssd_ext.utils.checkpoint import safe_load
    runner = toy_runner(tmp_path, 0, tmp_path / 'loads', max_iters=3)
    runner.train()
    state = safe_load(tmp_path / 'iter_3.pth')['message_hub']['runtime_info'][STATE_KEY]
    assert state['batches'] == 3 and state['samples'] == 6
    assert state['rank'] == 0 and state['num_workers'] == 0
    assert state['sampler'] == dict(seed=11, shuffle=True, size=7, world_size=1)


def test_checkpoint_without_loop_state_resumes_with_a_warning(tmp_path):
    """A checkpoint of another loop: positioned by iteration x batch size."""
    from ssd_ext.engine.checkpoint.atomic_io import atomic_torch_save
    from ssd_ext.utils.checkpoint import safe_load
    runner = toy_runner(tmp_path / 'ref', 0, tmp_path / 'ref_loads', max_iters=4)
    runner.train()
    reference = runner.model.seen
    del runner
    ckpt = safe_load(tmp_path / 'ref' / 'iter_3.pth')
    del ckpt['message_hub']['runtime_info'][STATE_KEY]
    atomic_torch_save(ckpt, tmp_path / 'stateless.pth')
    resumed = toy_runner(tmp_path / 'resumed', 0, tmp_path / 'loads', max_iters=4,
                         resume_from=str(tmp_path / 'stateless.pth'))
    resumed.train()
    assert resumed.model.seen[0]['idx'] == reference[3]['idx']  # same position
    assert loads(tmp_path / 'loads') == reference[3]['idx']     # nothing re-loaded


@pytest.mark.parametrize('max_iters', [2.5, '10'])
def test_max_iters_must_be_a_whole_number(tmp_path, max_iters):
    runner = toy_runner(tmp_path, 0, tmp_path / 'loads', max_iters=max_iters)
    with pytest.raises(ValueError, match=f'train_cfg.max_iters must be an integer, '
                                         f'got {max_iters!r}'):
        runner.train()
