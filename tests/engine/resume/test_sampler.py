"""ResumableInfiniteSampler: MMEngine's InfiniteSampler stream, startable anywhere."""
import time
from itertools import islice

import pytest
from mmengine.dataset import InfiniteSampler

from ssd_ext.engine.resume.sampler import ResumableInfiniteSampler


def _sampler(cls, size, rank, world_size, shuffle, seed=3):
    sampler = cls(list(range(size)), shuffle=shuffle, seed=seed)
    sampler.rank, sampler.world_size = rank, world_size  # before the first next()
    return sampler


@pytest.mark.parametrize('size,world_size,shuffle', [(7, 1, True), (10, 3, True),
                                                      (10, 3, False), (5, 4, True)])
def test_sampler_stream_is_mmengines_and_startable_anywhere(size, world_size, shuffle):
    for rank in range(world_size):
        reference = list(islice(iter(_sampler(InfiniteSampler, size, rank, world_size,
                                              shuffle)), 60))
        ours = _sampler(ResumableInfiniteSampler, size, rank, world_size, shuffle)
        assert list(islice(iter(ours), 60)) == reference
        for start in (0, 1, size - 1, size, 2 * size + 3, 23):
            ours.set_start(start)
            assert list(islice(iter(ours), 20)) == reference[start:start + 20]
            assert list(islice(iter(ours), 20)) == reference[start:start + 20]  # restarts


def test_sampler_resume_keeps_global_position_when_world_size_changes():
    reference = list(islice(iter(_sampler(InfiniteSampler, 11, 0, 1, True)), 80))
    ours = _sampler(ResumableInfiniteSampler, 11, 1, 2, True, seed=99)
    # 3 processes consumed 10 samples each: global position 30; rank 1 of 2
    # continues at 30 + 1, with the resumed seed.
    ours.resume(dict(seed=3, shuffle=True, size=11, world_size=3), consumed=10)
    assert ours.seed == 3 and ours.start == 15
    assert list(islice(iter(ours), 10)) == reference[31:51:2]


def test_sampler_skips_a_coco_schedule_quickly():
    """Resuming at the last iteration of the COCO schedule: 8 ranks x 4 images."""
    ours = _sampler(ResumableInfiniteSampler, 117266, 5, 8, True)
    started = time.perf_counter()
    ours.set_start(239999 * 4)
    first = next(iter(ours))
    elapsed = time.perf_counter() - started
    print(f'\nsampler positioned after {239999 * 4 * 8} global samples '
          f'({239999 * 4 * 8 // 117266} permutations) in {elapsed:.3f} s')
    assert 0 <= first < 117266
    assert elapsed < 30
