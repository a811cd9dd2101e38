"""DataLoader worker RNG states: read in the worker, restored when it starts.

Batch ``b`` goes to worker ``b % num_workers`` (PyTorch's in-order round
robin), and a worker's RNG state after producing batch ``b`` is its state
before batch ``b + num_workers``. So every batch carries its worker's state
(:class:`RNGStampingCollate`, run in the worker), the data stream keeps the
states of the last ``num_workers`` consumed batches, and a resumed worker ``i``
starts from the state that was going to produce batch ``k + i``
(:class:`RNGRestoringWorkerInit`). Both are module-level classes so that
DataLoader workers started with ``spawn`` can unpickle them.
"""
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Sequence

from torch.utils.data import get_worker_info

from ssd_ext.engine.resume.rng_state import get_rng_state, set_rng_state

# One entry per worker: {'rng': state} restores a saved state, {'seed_worker_id': j}
# seeds the worker as worker j was seeded at the start of its session.
WorkerPlan = List[Dict[str, Any]]


class StampedBatch(NamedTuple):
    """A collated batch with the RNG state its worker has after producing it."""
    data: Any
    worker_id: int
    rng: Dict[str, Any]


class RNGStampingCollate:
    """Collates with ``collate_fn``, then attaches the worker's RNG state."""

    def __init__(self, collate_fn: Callable[[Sequence[Any]], Any]) -> None:
        self.collate_fn = collate_fn

    def __call__(self, samples: Sequence[Any]) -> StampedBatch:
        data = self.collate_fn(samples)
        info = get_worker_info()
        return StampedBatch(data, -1 if info is None else info.id,
                            get_rng_state(include_cuda=False))


class RNGRestoringWorkerInit:
    """Seeds a worker as ``worker_init_fn`` would, then restores its planned state."""

    def __init__(self, worker_init_fn: Optional[Callable[[int], None]],
                 plan: WorkerPlan) -> None:
        self.worker_init_fn = worker_init_fn
        self.plan = plan

    def __call__(self, worker_id: int) -> None:
        entry = self.plan[worker_id]
        if self.worker_init_fn is not None:
            self.worker_init_fn(entry.get('seed_worker_id', worker_id))
        if 'rng' in entry:
            set_rng_state(entry['rng'])


def seeded_plan(num_workers: int) -> WorkerPlan:
    """Every worker seeded as at the start of training."""
    return [dict(seed_worker_id=i) for i in range(num_workers)]
