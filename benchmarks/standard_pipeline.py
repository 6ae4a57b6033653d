"""The standard PyTorch input pipeline, the baseline the throughput benchmark compares the fast
path with: PIL images, torchvision transforms on the CPU, DataLoader workers. Training never
uses it (``reproduce.data.DeviceLoader`` keeps the data on the device)."""

from __future__ import annotations

import torch

from reproduce.data import CIFAR10_MEAN, CIFAR10_STD, ImageSet


class _PILDataset(torch.utils.data.Dataset):
    def __init__(self, data: ImageSet, transform) -> None:
        self.x = data.x.permute(0, 2, 3, 1).numpy()
        self.y = data.y.tolist()
        self.transform = transform

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i):
        from PIL import Image

        return self.transform(Image.fromarray(self.x[i])), self.y[i]


def torchvision_loader(data: ImageSet, batch_size: int, augment: str = "crop_flip", workers: int = 4,
                       pin_memory: bool = False) -> torch.utils.data.DataLoader:
    """The standard pipeline over ``data``, with the same augmentation as the fast path."""
    from torchvision import transforms as T

    ops = []
    if augment == "crop_flip":
        ops.append(T.RandomCrop(32, padding=4))
    if augment in ("flip", "crop_flip"):
        ops.append(T.RandomHorizontalFlip())
    ops += [T.ToTensor(), T.Normalize(CIFAR10_MEAN, CIFAR10_STD)]
    return torch.utils.data.DataLoader(
        _PILDataset(data, T.Compose(ops)), batch_size=batch_size, shuffle=True, num_workers=workers,
        pin_memory=pin_memory, drop_last=False, persistent_workers=workers > 0,
    )
