"""BatchNorm over groups of a batch, as Caffe computed it on several GPUs.

Smith's C4 run took batch 512 as 4 GPUs × 128: each GPU normalised its own 128 images, and the
test net read the running statistics of the first GPU only (the root solver's). With ``group``
set, a training batch is normalised ``group`` images at a time (Hoffer et al. 2017 call this
"ghost" batch norm), and only the first group feeds the running statistics, as GPU 0's did.
A batch that does not divide evenly (an epoch's last) ends with a smaller group. In eval
mode, or for a batch no larger than a group, it is plain ``nn.BatchNorm2d``.

Two ways to compute the same thing. Run eagerly, each group goes through ``F.batch_norm`` (cuDNN's
kernels; on a CPU twice as fast as the alternative). Under ``torch.compile`` a batch that divides
evenly is normalised as one ``(groups, group, C, H, W)`` tensor instead: one reduction per layer
rather than one per group, a graph a quarter the size, which compiles faster (measured by
``benchmarks/ghost_bn.py``; its JSONs are in ``benchmarks/results/``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class GhostBatchNorm2d(nn.BatchNorm2d):
    grouped_when_compiled = True  # the one-tensor form under torch.compile (the benchmark turns it off to compare)

    def __init__(self, num_features: int, group: int | None = None, **kwargs) -> None:
        super().__init__(num_features, **kwargs)
        self.group = group

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and self.group and x.shape[0] > self.group):
            return super().forward(x)
        self.num_batches_tracked.add_(1)
        momentum = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
        if self.grouped_when_compiled and torch.compiler.is_compiling() and x.shape[0] % self.group == 0:
            return self._grouped(x, momentum)
        first, *rest = x.split(self.group)
        out = [F.batch_norm(first, self.running_mean, self.running_var, self.weight, self.bias, True, momentum, self.eps)]
        out += [F.batch_norm(c, None, None, self.weight, self.bias, True, 0.0, self.eps) for c in rest]
        return torch.cat(out)

    def _grouped(self, x: torch.Tensor, momentum: float) -> torch.Tensor:
        """Every group's statistics from one ``(groups, group, C, H, W)`` view, in float32 as
        ``F.batch_norm`` keeps them; the running statistics from the first group (unbiased variance)."""
        xs = x.unflatten(0, (x.shape[0] // self.group, self.group)).float()
        var, mean = torch.var_mean(xs, dim=(1, 3, 4), correction=0, keepdim=True)
        y = (xs - mean) * torch.rsqrt(var + self.eps)
        if self.weight is not None:
            y = y * self.weight.view(1, 1, -1, 1, 1) + self.bias.view(1, 1, -1, 1, 1)
        if self.track_running_stats:
            n = self.group * x.shape[2] * x.shape[3]
            with torch.no_grad():
                self.running_mean.lerp_(mean[0].flatten(), momentum)
                self.running_var.lerp_(var[0].flatten() * (n / (n - 1)), momentum)
        return y.flatten(0, 1).to(x.dtype)


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
