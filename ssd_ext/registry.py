"""ssd_ext registers into MMDetection's registries, so configs keep ``default_scope='mmdet'``.

Every ssd_ext name is distinct from MMDetection's (no ``SSDHead``/``SSDVGG`` clash).
"""
from mmdet.registry import (DATA_SAMPLERS, DATASETS, HOOKS, LOOPS, METRICS, MODELS,
                            OPTIM_WRAPPERS, TASK_UTILS, TRANSFORMS)

__all__ = ['DATA_SAMPLERS', 'DATASETS', 'HOOKS', 'LOOPS', 'METRICS', 'MODELS',
           'OPTIM_WRAPPERS', 'TASK_UTILS', 'TRANSFORMS']
