"""Exact resume: every random draw is a function of the run seed and a stream
position, so a checkpoint plus the seed continues the uninterrupted run."""
from ssd_ext.engine.resume.sample_seeds import SeededSampleDataset, seed_everything
from ssd_ext.engine.resume.sampler import ResumableInfiniteSampler
from ssd_ext.engine.resume.train_loop import FastResumeIterBasedTrainLoop

__all__ = [
    'FastResumeIterBasedTrainLoop', 'ResumableInfiniteSampler', 'SeededSampleDataset',
    'seed_everything'
]
