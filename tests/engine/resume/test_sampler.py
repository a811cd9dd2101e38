"""ResumableInfiniteSampler: MMEngine's InfiniteSampler index stream, each index
knowing its global position, startable anywhere."""
import pickle
from itertools import islice

import pytest
from mmengine.dataset import InfiniteSampler

from ssd_ext.engine.resume.sampler import ResumableInfiniteSampler, SampleIndex


def _sampler(cls, size, rank, world_size, shuffle, seed=3):
    sampler = cls(list(range(size)), shuffle=shuffle, seed=seed)
    sampler.rank, sampler.world_size = rank, world_size  # before the first next()
    return sampler


@pytest.mark.parametrize('size,world_size,shuffle', [(7, 1, True), (10, 3, True),
                         (10, 3, False), (5, 4, True)])
def test_indices_are_mmengines_and_startable_anywhere(size, world_size, shuffle):
    for rank in range(world_size):
        reference = list(islice(iter(_sampler(InfiniteSampler, size, rank, world_size,
                                              shuffle)), 60))
        ours = _sampler(ResumableInfiniteSampler, size, rank, world_size, shuffle)
        pairs = [(int(i), i.position) for i in islice(iter(ours), 60)]
        assert [index for index, _ in pairs] == reference
        assert [position for _, position in pairs] == list(range(rank, 60 * world_size,
                                                                 world_size))
        for start in (0, 1, size - 1, size, 2 * size + 3, 23):
            ours.set_start(start)
            for _ in range(2):  # each iter() restarts at start
                assert [(int(i), i.position)
                        for i in islice(iter(ours), 20)] == pairs[start:start + 20]


@pytest.mark.parametrize('world_size, batch_size', [(1, 6), (2, 3), (3, 2)])
def test_an_iteration_takes_the_same_samples_for_any_world_size(world_size, batch_size):
    """Global batch 6 at iteration 4: positions 24..29 with the same indices,
    however they are split among ranks (what lets a resume change the number
    of processes)."""
    single = {i.position: int(i)
              for i in islice(iter(_sampler(ResumableInfiniteSampler, 11, 0, 1, True)), 60)}
    taken = {}
    for rank in range(world_size):
        sampler = _sampler(ResumableInfiniteSampler, 11, rank, world_size, True)
        sampler.set_start(4 * batch_size)
        taken.update((i.position, int(i)) for i in islice(iter(sampler), batch_size))
    assert taken == {p: single[p] for p in range(24, 30)}


def test_negative_start_is_refused():
    with pytest.raises(ValueError, match='got -1'):
        _sampler(ResumableInfiniteSampler, 5, 0, 1, True).set_start(-1)


def test_a_sample_index_is_an_index_that_keeps_its_position_through_pickling():
    index = SampleIndex(4, 1234)
    assert index == 4 and [10, 11, 12, 13, 14][index] == 14
    copy = pickle.loads(pickle.dumps(index))  # as DataLoader workers receive it
    assert copy == 4 and copy.position == 1234
