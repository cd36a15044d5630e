"""Run under torchrun: builds the sampler from torch.distributed (gloo) and writes this rank's batches as JSON."""

import json
import os
import sys

import torch.distributed as dist

from hf_cser.data.sampler import HierarchicalLanguageEmotionSampler


def main(out_dir: str) -> None:
    dist.init_process_group("gloo")
    languages = ["en"] * 40 + ["zh"] * 24 + ["de"] * 17
    emotions = [i % 4 for i in range(40)] + [i % 4 for i in range(24)] + [i % 4 for i in range(17)]
    sampler = HierarchicalLanguageEmotionSampler(
        languages, emotions, languages_per_batch=2, emotions_per_batch=2, samples_per_cell=3, seed=7
    )
    sampler.set_epoch(3)
    batches = list(sampler)
    info = {"rank": dist.get_rank(), "world": sampler.num_replicas, "len": len(sampler), "batches": batches}
    with open(os.path.join(out_dir, f"rank{dist.get_rank()}.json"), "w") as f:
        json.dump(info, f)
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
