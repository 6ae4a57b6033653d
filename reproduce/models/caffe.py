"""Caffe's ``examples/cifar10/cifar10_full_train_test.prototxt``, the CLR paper's CIFAR-10 net.

conv 5×5 32 → max-pool 3/2 → ReLU → LRN → conv 5×5 32 → ReLU → avg-pool 3/2 → LRN →
conv 5×5 64 → ReLU → avg-pool 3/2 → fc 10. Caffe pools round up (32 → 16 → 8 → 4), hence
``ceil_mode``. LRN is Caffe's WITHIN_CHANNEL mode (local 3, alpha 5e-5, beta 0.75):
x / (1 + alpha * mean of x² over the 3×3 neighbourhood)^beta. Init: Gaussian std 1e-4 (conv1),
1e-2 (the rest), biases 0. The fc weights carry Caffe's ``decay_mult: 250`` and its bias
``decay_mult: 0`` (see ``decay_multipliers``). Not modelled: Caffe's ``lr_mult: 2`` on biases.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class WithinChannelLRN(nn.Module):
    def __init__(self, size: int = 3, alpha: float = 5e-5, beta: float = 0.75) -> None:
        super().__init__()
        self.size, self.alpha, self.beta = size, alpha, beta

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Caffe: avg-pool of x² with pad (size-1)/2, padded zeros counted in the mean
        sq = F.avg_pool2d(x * x, self.size, stride=1, padding=(self.size - 1) // 2, count_include_pad=True)
        return x * (1 + self.alpha * sq).pow(-self.beta)


class Cifar10Full(nn.Module):
    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 5, padding=2)
        self.conv2 = nn.Conv2d(32, 32, 5, padding=2)
        self.conv3 = nn.Conv2d(32, 64, 5, padding=2)
        self.norm1, self.norm2 = WithinChannelLRN(), WithinChannelLRN()
        self.fc = nn.Linear(64 * 4 * 4, num_classes)
        for m, std in ((self.conv1, 1e-4), (self.conv2, 1e-2), (self.conv3, 1e-2), (self.fc, 1e-2)):
            nn.init.normal_(m.weight, std=std)
            nn.init.zeros_(m.bias)
        self.decay_multipliers = {"fc.weight": 250.0, "fc.bias": 0.0}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm1(F.relu(F.max_pool2d(self.conv1(x), 3, 2, ceil_mode=True)))
        x = self.norm2(F.avg_pool2d(F.relu(self.conv2(x)), 3, 2, ceil_mode=True))
        x = F.avg_pool2d(F.relu(self.conv3(x)), 3, 2, ceil_mode=True)
        return self.fc(torch.flatten(x, 1))
