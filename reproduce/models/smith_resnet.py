"""Smith's own "ResNet-56": the Caffe net his C4 log trained, which is not He et al.'s.

The layer graph is the one the log's TRAIN net printed (``experiments/reference/
smith_resnet56_layers.csv``, parsed from it, is the test's yardstick):

- a 3×3 conv (16) → BN → ReLU stem;
- stage 1: eight blocks at 16 channels, then a ninth that halves the resolution and doubles the
  width; stage 2 the same at 32 → 64; stage 3: eight blocks at 64. 26 blocks, 55 convolutions;
- a block is conv3×3 → BN → ReLU → conv3×3 → BN, **added to the shortcut with no ReLU after the
  sum**;
- the shortcut of a halving block is a projection: a 2×2 stride-2 conv (no padding) → BN;
- global average pooling of the last sum (no ReLU) → fc 10.

Caffe's Xavier filler initialises every conv and the fc (the logged run's script swapped the
prototxt's ``msra`` for ``xavier``): uniform in ±sqrt(3 / fan_in). BN's scale and shift (Caffe's
``Scale`` layer) start at 1 and 0 and are weight-decayed, as Caffe decays them; the fc bias is not
(``decay_mult: 0``). Not modelled: the conv biases Caffe puts before each BN (a bias followed by
BN has zero gradient and only decays, so it changes nothing) and ``lr_mult: 2`` on the fc bias.
Caffe's BN statistics came from each GPU's 128 images; ``bn_group`` in the run's config does that.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class SmithBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, halve: bool) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, 2 if halve else 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.proj = nn.Sequential(nn.Conv2d(c_in, c_out, 2, 2, 0, bias=False), nn.BatchNorm2d(c_out)) if halve else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return out + (x if self.proj is None else self.proj(x))  # no ReLU after the sum


class SmithResNet56(nn.Module):
    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(16)
        layers = []
        for width, halve_last in ((16, True), (32, True), (64, False)):
            layers += [SmithBlock(width, width, False) for _ in range(8)]
            if halve_last:
                layers.append(SmithBlock(width, 2 * width, True))
        self.blocks = nn.Sequential(*layers)
        self.fc = nn.Linear(64, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d | nn.Linear):
                fan_in = m.weight[0].numel()
                bound = math.sqrt(3 / fan_in)  # Caffe's XavierFiller (variance_norm FAN_IN)
                nn.init.uniform_(m.weight, -bound, bound)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            if isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        self.decay_multipliers = {"fc.bias": 0.0}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn(self.conv(x)))
        x = self.blocks(x)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))
