"""Exact resume: a resumed run trains on what the uninterrupted run would have.

``FastResumeIterBasedTrainLoop`` stores the data position and the RNG states of
the main process and of every DataLoader worker in each checkpoint's message
hub (``rng_state``, ``worker_rng``); on resume its ``DataStream``
(``data_stream``) starts ``ResumableInfiniteSampler`` right after the samples
already consumed, so the same samples and augmentation draws follow without
loading a past batch again.
"""
from ssd_ext.engine.resume.rng_state import get_rng_state, set_rng_state
from ssd_ext.engine.resume.sampler import ResumableInfiniteSampler
from ssd_ext.engine.resume.train_loop import FastResumeIterBasedTrainLoop

__all__ = [
    'FastResumeIterBasedTrainLoop', 'ResumableInfiniteSampler', 'get_rng_state', 'set_rng_state'
]
