"""The papers' networks: ``build(name)`` returns a fresh, initialised model.

- ``resnet20`` … ``resnet110``: He et al. 2016's CIFAR ResNets (6n+2, option-A shortcuts).
- ``resnet56_smith``: the Caffe net Smith's own C4 run trained under that name (no ReLU after a
  sum, projection shortcuts, Xavier init): see :mod:`.smith_resnet`.
- ``cifar10_full``: Caffe's cifar10-full, the CLR paper's CIFAR-10 network.
- ``keras_cnn``: the small Keras-style CNN of the seed post (claim C8).
- ``alexnet``, ``googlenet``: torchvision's, for the CLR paper's ImageNet rows (not reproduced here).
"""

from __future__ import annotations

from torch import nn

from .caffe import Cifar10Full
from .ghost_batch_norm import GhostBatchNorm2d, ghost_batch_norm
from .keras_cnn import KerasCNN
from .resnet import RESNET_DEPTHS, CifarResNet
from .smith_resnet import SmithResNet56

MODELS = tuple(f"resnet{d}" for d in RESNET_DEPTHS) + ("resnet56_smith", "cifar10_full", "keras_cnn", "alexnet",
                                                      "googlenet")
# a model the throughput benchmark has not timed is estimated with one it has timed of about its cost
COST_LIKE = {"resnet56_smith": "resnet56"}


def build(name: str, num_classes: int = 10) -> nn.Module:
    if name.startswith("resnet") and name[6:].isdigit() and int(name[6:]) in RESNET_DEPTHS:
        return CifarResNet(int(name[6:]), num_classes)
    if name == "resnet56_smith":
        return SmithResNet56(num_classes)
    if name == "cifar10_full":
        return Cifar10Full(num_classes)
    if name == "keras_cnn":
        return KerasCNN(num_classes)
    if name in ("alexnet", "googlenet"):  # the CLR paper's ImageNet rows, as torchvision defines them
        import torchvision

        if name == "alexnet":
            return torchvision.models.alexnet(num_classes=num_classes)
        return torchvision.models.googlenet(num_classes=num_classes, aux_logits=False, init_weights=True)
    raise ValueError(f"model={name!r} is invalid: expected one of {', '.join(MODELS)}")


def weight_decay_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Parameter groups with per-parameter weight-decay multipliers (Caffe's ``decay_mult``),
    as the model declares them in ``decay_multipliers`` (name -> multiplier; default 1)."""
    mults = getattr(model, "decay_multipliers", {})
    groups: dict[float, list] = {}
    for name, p in model.named_parameters():
        groups.setdefault(float(mults.get(name, 1.0)), []).append(p)
    return [{"params": ps, "weight_decay": weight_decay * m} for m, ps in sorted(groups.items())]


__all__ = ["MODELS", "COST_LIKE", "build", "weight_decay_groups", "ghost_batch_norm", "CifarResNet", "SmithResNet56",
           "GhostBatchNorm2d", "Cifar10Full", "KerasCNN"]
