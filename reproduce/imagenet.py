"""ImageNet (or any ``ImageFolder`` tree) for the CLR paper's AlexNet and GoogLeNet rows.

ImageNet does not fit on a GPU as uint8 the way CIFAR-10 does, so this is the standard
pipeline: torchvision ``ImageFolder`` (``<root>/train/<class>/*``, ``<root>/val/<class>/*``),
JPEG decoding and augmentation in DataLoader workers (RandomResizedCrop + flip for training,
resize + centre crop for validation). The *order* of an epoch is still a function of
(seed, epoch), so a resumed run sees the same batches (the workers' crop draws are not).
There is no ImageNet on this project's machines: the path is tested on a tiny generated tree.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import torch
import torch.nn.functional as F

from .data import DataError, epoch_generator
from .evaluation import autocast, wilson

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def image_folder(root: str | Path | None, split: str, image_size: int):
    """``root/split`` as an ImageFolder with the split's transforms."""
    from torchvision import datasets
    from torchvision import transforms as T

    if root is None:
        raise DataError("dataset imagenet needs --data PATH: a folder with train/<class>/* and val/<class>/* "
                        "(torchvision ImageFolder layout); there is no download")
    folder = Path(root).expanduser() / split
    if not folder.is_dir():
        raise DataError(f"{folder} does not exist: expected {Path(root) / split}/<class>/<image> (ImageFolder layout)")
    norm = T.Normalize(IMAGENET_MEAN, IMAGENET_STD)
    if split == "train":
        tf = T.Compose([T.RandomResizedCrop(image_size), T.RandomHorizontalFlip(), T.ToTensor(), norm])
    else:
        tf = T.Compose([T.Resize(round(image_size * 256 / 224)), T.CenterCrop(image_size), T.ToTensor(), norm])
    ds = datasets.ImageFolder(str(folder), transform=tf)
    if not ds.samples:
        raise DataError(f"{folder} holds no images")
    return ds


def describe(ds) -> dict:
    """What a results file records: the tree, its size, and a SHA-256 of its listing
    (relative path and byte size of every image), cheap enough for 1.28 M files."""
    h = hashlib.sha256()
    root = Path(ds.root)
    for path, label in ds.samples:
        p = Path(path)
        h.update(f"{p.relative_to(root)}\t{label}\t{p.stat().st_size}\n".encode())
    return {"source": f"imagefolder:{root}", "images": len(ds.samples), "classes": len(ds.classes),
            "listing_sha256": h.hexdigest()}


class FolderLoader:
    """Global batches of ``batch_size`` in a (seed, epoch)-determined order; under torchrun each
    rank loads its slice. ``epoch(e, start)`` resumes mid-epoch without loading skipped batches."""

    def __init__(self, ds, batch_size: int, *, seed: int = 0, device: str = "cpu", workers: int = 8,
                 drop_last: bool = False, channels_last: bool = False, rank: int = 0, world: int = 1) -> None:
        if batch_size % world:
            raise ValueError(f"batch_size={batch_size} is invalid with {world} processes: expected a multiple of {world}")
        self.ds, self.batch_size, self.seed, self.device = ds, batch_size, seed, device
        self.workers, self.drop_last, self.channels_last = workers, drop_last, channels_last
        self.rank, self.world = rank, world

    def __len__(self) -> int:
        n = len(self.ds) / self.batch_size
        return math.floor(n) if self.drop_last else math.ceil(n)

    def epoch(self, epoch: int, start: int = 0):
        g = epoch_generator(self.seed, epoch)
        perm = torch.randperm(len(self.ds), generator=g)
        batches = [perm[b * self.batch_size:(b + 1) * self.batch_size].tensor_split(self.world)[self.rank].tolist()
                   for b in range(start, len(self))]
        loader = torch.utils.data.DataLoader(self.ds, batch_sampler=batches, num_workers=self.workers,
                                             pin_memory=self.device.startswith("cuda"))
        for x, y in loader:
            x = x.to(self.device, non_blocking=True)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            yield x, y.to(self.device, non_blocking=True)


class FolderEvaluator:
    """Top-1 (``test_accuracy``, with its 95 % interval) and top-5 accuracy on the val tree."""

    def __init__(self, ds, device: str, amp: bool, batch_size: int = 250, workers: int = 8,
                 limit: int | None = None, channels_last: bool = False) -> None:
        if limit is not None and limit < len(ds):
            ds = torch.utils.data.Subset(ds, range(limit))
        self.loader = torch.utils.data.DataLoader(ds, batch_size=batch_size, num_workers=workers,
                                                  pin_memory=device.startswith("cuda"))
        self.device, self.amp, self.channels_last = device, amp, channels_last
        self.n = len(ds)

    @torch.inference_mode()
    def __call__(self, model: torch.nn.Module) -> dict[str, float]:
        was = model.training
        model.eval()
        stats = torch.zeros(3, device=self.device)  # top-1 correct, top-5 correct, summed loss
        for x, y in self.loader:
            x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with autocast(self.device, self.amp):
                logits = model(x).float()
            top5 = logits.topk(min(5, logits.shape[1]), dim=1).indices
            stats += torch.stack([(top5[:, 0] == y).sum(), (top5 == y[:, None]).any(1).sum(),
                                  F.cross_entropy(logits, y, reduction="sum")]).float()
        model.train(was)
        top1, top5, loss = (stats / self.n).tolist()
        lo, hi = wilson(top1, self.n)
        return {"test_accuracy": top1, "test_accuracy_lo95": lo, "test_accuracy_hi95": hi, "test_n": self.n,
                "test_accuracy_all": top1, "test_top5": top5, "test_loss": loss}
