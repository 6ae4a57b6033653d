"""The papers' networks: sizes, shapes, and the Caffe details that matter."""

import pytest
import torch

from reproduce.models import build, weight_decay_groups
from reproduce.models.caffe import WithinChannelLRN


@pytest.mark.parametrize("name,quoted", [("resnet20", "0.27"), ("resnet56", "0.85"), ("resnet110", "1.7")])
def test_resnet_parameter_counts_match_he_et_al(name, quoted):
    # He et al. 2016, Table 6, quote millions of parameters to two significant digits
    n = sum(p.numel() for p in build(name).parameters())
    assert f"{n / 1e6:.2g}" == quoted, n


def test_resnet56_exact_count_and_option_a_shortcuts():
    m = build("resnet56")
    assert sum(p.numel() for p in m.parameters()) == 853_018
    assert not any(isinstance(x, torch.nn.Conv2d) and x.kernel_size == (1, 1) for x in m.modules())
    assert sum(isinstance(x, torch.nn.Conv2d) for x in m.modules()) == 55  # 6n+1 convs + fc = 56 layers


@pytest.mark.parametrize("name", ["resnet20", "cifar10_full", "keras_cnn"])
def test_forward_shapes(name):
    assert build(name)(torch.randn(3, 3, 32, 32)).shape == (3, 10)


def test_cifar10_full_matches_caffe_spec():
    m = build("cifar10_full")
    x = torch.randn(2, 3, 32, 32)
    h = m.conv1(x)
    assert torch.nn.functional.max_pool2d(h, 3, 2, ceil_mode=True).shape[-1] == 16  # Caffe rounds up
    assert m.fc.in_features == 64 * 4 * 4
    assert m.conv1.weight.std().item() == pytest.approx(1e-4, rel=0.1)
    assert m.conv2.weight.std().item() == pytest.approx(1e-2, rel=0.1)
    groups = {g["weight_decay"]: len(g["params"]) for g in weight_decay_groups(m, 0.004)}
    assert groups == {0.0: 1, 0.004: 6, 1.0: 1}  # fc bias 0x, convs 1x, fc weight 250x


def test_within_channel_lrn_formula():
    lrn = WithinChannelLRN(3, alpha=0.5, beta=0.75)
    x = torch.zeros(1, 1, 5, 5)
    x[0, 0, 2, 2] = 2.0
    out = lrn(x)
    # centre: mean of x^2 over its 3x3 window = 4/9
    assert out[0, 0, 2, 2].item() == pytest.approx(2.0 / (1 + 0.5 * 4 / 9) ** 0.75)
    assert out[0, 0, 0, 0].item() == 0.0


def test_unknown_model():
    with pytest.raises(ValueError, match="model='resnet57'"):
        build("resnet57")
