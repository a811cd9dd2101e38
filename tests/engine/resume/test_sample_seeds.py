"""seed_everything and SeededSampleDataset: a sample's random draws depend on
the run seed and its stream position only."""
import pickle
import random

import numpy as np
import pytest
import torch

from ssd_ext.engine.resume.sample_seeds import (ITERATION, SAMPLE, SeededSampleDataset,
                                                seed_everything)
from ssd_ext.engine.resume.sampler import SampleIndex


def _draws():
    return random.random(), float(np.random.rand()), float(torch.rand(()))


def _seeded_draws(seed, stream, position):
    seed_everything(seed, stream, position)
    return _draws()


def test_each_generator_is_a_function_of_seed_stream_and_position():
    first = _seeded_draws(5, SAMPLE, 7)
    _draws()  # whatever ran in between
    assert _seeded_draws(5, SAMPLE, 7) == first
    others = [_seeded_draws(6, SAMPLE, 7), _seeded_draws(5, ITERATION, 7),
              _seeded_draws(5, SAMPLE, 8)]
    for other in others:  # each of the three generators moved
        assert all(a != b for a, b in zip(first, other))


class Drawing(torch.utils.data.Dataset):
    metainfo = dict(classes=('a', ))

    def __len__(self):
        return 4

    def __getitem__(self, index):
        return (index, ) + _draws()


def test_a_sample_draws_the_same_whatever_was_loaded_before():
    dataset = SeededSampleDataset(Drawing(), seed=3)
    alone = dataset[SampleIndex(2, 17)]
    dataset[SampleIndex(1, 16)], dataset[SampleIndex(2, 40)]
    assert dataset[SampleIndex(2, 17)] == alone
    assert dataset[SampleIndex(2, 18)][1:] != alone[1:]  # same image, next position: new draws
    dataset.seed = 4
    assert dataset[SampleIndex(2, 17)][1:] != alone[1:]


def test_the_wrapper_is_the_dataset_for_everything_but_sample_access():
    dataset = SeededSampleDataset(Drawing(), seed=3)
    assert len(dataset) == 4 and dataset.metainfo == dict(classes=('a', ))
    copy = pickle.loads(pickle.dumps(dataset))  # as a spawned DataLoader worker gets it
    assert copy[SampleIndex(1, 5)] == dataset[SampleIndex(1, 5)]


def test_an_index_without_a_position_is_refused():
    with pytest.raises(TypeError, match='indexed by the SampleIndex of '
                                        'ResumableInfiniteSampler, got 2'):
        SeededSampleDataset(Drawing())[2]
