"""He et al. 2016 (arXiv 1512.03385, §4.2): ResNets for CIFAR-10, depth 6n+2.

Three stages of n basic blocks with 16, 32, 64 channels; the first block of stages 2 and 3
halves the resolution. Shortcuts are option A — identity, subsampled, with zero-padded extra
channels — so the shortcuts add no parameters (ResNet-56: 0.85 M). He et al. name [13]'s init and
no more: here every conv *and the fc* are Kaiming-normal (fan-in), as Y. Idelbayev's widely used
PyTorch port (akamaster/pytorch_resnet_cifar10) has them; torchvision's ResNets and fb.resnet.torch
leave the fc at the framework's uniform ±1/√fan-in, about 2.5× smaller, so their first logits are
smaller too. The stored runs used this init; changing it would make them another network's runs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

RESNET_DEPTHS = (20, 32, 44, 56, 110)


class BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.stride, self.extra = stride, c_out - c_in

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1 and self.extra == 0:
            return x
        x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, self.extra // 2, self.extra - self.extra // 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    def __init__(self, depth: int = 56, num_classes: int = 10) -> None:
        super().__init__()
        if depth not in RESNET_DEPTHS and (depth - 2) % 6:
            raise ValueError(f"depth={depth} is invalid: expected 6n+2, e.g. {RESNET_DEPTHS}")
        n = (depth - 2) // 6
        self.conv = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(16)
        layers, c = [], 16
        for width, stride in ((16, 1), (32, 2), (64, 2)):
            for i in range(n):
                layers.append(BasicBlock(c, width, stride if i == 0 else 1))
                c = width
        self.blocks = nn.Sequential(*layers)
        self.fc = nn.Linear(64, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d | nn.Linear):
                nn.init.kaiming_normal_(m.weight)
            if isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn(self.conv(x)))
        x = self.blocks(x)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))
