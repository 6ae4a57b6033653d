"""BatchNorm over groups of a batch, as Caffe computed it on several GPUs.

Smith's C4 run took batch 512 as 4 GPUs × 128: each GPU normalised its own 128 images, and the
test net read the running statistics of the first GPU only (the root solver's). With ``group``
set, a training batch is normalised ``group`` images at a time (Hoffer et al. 2017 call this
"ghost" batch norm), and only the first group feeds the running statistics, as GPU 0's did.
A batch that does not divide evenly (an epoch's last) ends with a smaller group. In eval
mode, or for a batch no larger than a group, it is plain ``nn.BatchNorm2d``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class GhostBatchNorm2d(nn.BatchNorm2d):
    def __init__(self, num_features: int, group: int | None = None, **kwargs) -> None:
        super().__init__(num_features, **kwargs)
        self.group = group

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and self.group and x.shape[0] > self.group):
            return super().forward(x)
        self.num_batches_tracked.add_(1)
        momentum = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
        first, *rest = x.split(self.group)
        out = [F.batch_norm(first, self.running_mean, self.running_var, self.weight, self.bias, True, momentum, self.eps)]
        out += [F.batch_norm(c, None, None, self.weight, self.bias, True, 0.0, self.eps) for c in rest]
        return torch.cat(out)


def ghost_batch_norm(model: nn.Module, group: int) -> nn.Module:
    """Swap every ``nn.BatchNorm2d`` of ``model`` for a :class:`GhostBatchNorm2d` over ``group``
    images, keeping its parameters and statistics (in place; returns ``model``)."""
    for name, child in model.named_children():
        if type(child) is nn.BatchNorm2d:
            ghost = GhostBatchNorm2d(child.num_features, group, eps=child.eps, momentum=child.momentum,
                                     affine=child.affine, track_running_stats=child.track_running_stats)
            state = child.state_dict()
            ghost.load_state_dict(state)
            setattr(model, name, ghost.to(next(iter(state.values())).device) if state else ghost)
        else:
            ghost_batch_norm(child, group)
    return model
