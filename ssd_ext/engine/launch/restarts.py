"""How a training run survives being stopped: preemption and elastic restarts.

- Every training run built by ``build_runner`` gets ``PreemptionHook`` (SIGTERM
  or SIGUSR1: save the current iteration, exit 143; ``engine/checkpoint/preemption.py``)
  unless its config lists one (e.g. with other ``signals``).
- A process that torchrun restarted (``MAX_RESTARTS=N tools/dist_train.sh``)
  resumes by itself from the work dir's ``last_checkpoint`` (if it has none
  yet, as the first start did): torchrun numbers each start of the group in
  ``TORCHELASTIC_RESTART_COUNT`` (0 first).
"""
import os
from typing import Optional

from mmengine.config import Config
from mmengine.logging import print_log

from ssd_ext.engine.checkpoint.atomic_checkpoint_hook import read_last_checkpoint

RESTART_COUNT_VAR = 'TORCHELASTIC_RESTART_COUNT'


def add_preemption_hook(cfg: Config) -> None:
    """Appends ``PreemptionHook`` to ``cfg.custom_hooks`` unless it lists one."""
    hooks = list(cfg.get('custom_hooks', []))
    if not any(h.get('type') == 'PreemptionHook' for h in hooks):
        cfg.custom_hooks = hooks + [dict(type='PreemptionHook')]


def elastic_restart_count() -> int:
    """How many times torchrun restarted this process's group (0 outside torchrun)."""
    value = os.environ.get(RESTART_COUNT_VAR, '0')
    if not value.isdigit():
        raise ValueError(f'{RESTART_COUNT_VAR}={value!r} is not a non-negative integer')
    return int(value)


def resume_after_restart(resume: Optional[str], work_dir: str) -> Optional[str]:
    """``--resume``'s value for this process: 'auto' (the latest checkpoint)
    in a group torchrun restarted once ``work_dir`` has a ``last_checkpoint``,
    whatever the first start was given; ``resume`` otherwise."""
    restarts = elastic_restart_count()
    if restarts == 0 or read_last_checkpoint(work_dir) is None:
        return resume
    print_log(f'Restart {restarts} of the process group ({RESTART_COUNT_VAR}): '
              "resuming from the work dir's last_checkpoint", logger='current')
    return 'auto'
