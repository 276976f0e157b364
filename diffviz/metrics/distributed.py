"""FID across processes with Accelerate: each process generates its share, exact sums are gathered.

    accelerate launch --cpu --num_processes 2 my_fid.py          # CPU, as in the tests
    accelerate launch --multi_gpu --num_processes 4 my_fid.py    # 4 GPUs

where my_fid.py calls `distributed_generated_stats(...)` and every process gets the same
RunningStats — equal (to float64 round-off) to the one-process value for the same seeds.
"""
from __future__ import annotations

from .fid import generated_features
from .stats import RunningStats


def distributed_generated_stats(model, conditions, n: int, extractor, accelerator=None, **kwargs) -> RunningStats:
    from accelerate import Accelerator
    from accelerate.utils import gather_object

    acc = accelerator or Accelerator()
    model.to(acc.device)
    feats = generated_features(model, conditions, n, extractor, rank=acc.process_index, world_size=acc.num_processes,
                               **kwargs)
    local = RunningStats(extractor.dim)
    if len(feats):
        local.update(feats)
    parts = gather_object([local.to_arrays()])
    total = RunningStats(extractor.dim)
    for arrays in parts:
        total = total.merge(RunningStats.from_arrays(arrays))
    return total
