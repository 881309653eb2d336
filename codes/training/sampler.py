"""A resumable, shardable epoch sampler.

The order of epoch ``e`` is a permutation drawn from ``seed + e``; process ``rank`` of
``world`` takes every ``world``-th index (like DistributedSampler with drop_last); the
first ``skip`` indices of this process can be skipped to resume in the middle of an epoch.
"""

import torch


class ResumableSampler(torch.utils.data.Sampler):
    def __init__(self, length, seed=0, rank=0, world=1, shuffle=True):
        self.length, self.seed, self.rank, self.world, self.shuffle = length, seed, rank, world, shuffle
        self.epoch, self.skip = 0, 0

    def set_epoch(self, epoch, skip=0):
        self.epoch, self.skip = int(epoch), int(skip)

    def per_process(self):
        return self.length // self.world

    def __iter__(self):
        if self.shuffle:
            g = torch.Generator()
            g.manual_seed(self.seed + self.epoch)
            order = torch.randperm(self.length, generator=g).tolist()
        else:
            order = list(range(self.length))
        mine = order[: self.per_process() * self.world][self.rank :: self.world]
        return iter(mine[self.skip :])

    def __len__(self):
        return max(self.per_process() - self.skip, 0)
