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


# ---------------------------------------------------------------- Smith's Caffe ResNet-56 (C4's log)

def _smith_log_layers():
    import csv
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "experiments/reference/smith_resnet56_layers.csv"
    return list(csv.DictReader(path.open()))


def _executed_convs(model, x):
    """(out channels, height, width, kernel, stride, pad, in channels) of every conv, in the order they ran."""
    seen = []
    hooks = [m.register_forward_hook(lambda m, i, o: seen.append(
        (o.shape[1], o.shape[2], o.shape[3], m.kernel_size[0], m.stride[0], m.padding[0], i[0].shape[1])))
        for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    model(x)
    for h in hooks:
        h.remove()
    return seen


def test_resnet56_smith_has_the_logged_graph():
    rows = _smith_log_layers()
    by_name = {r["layer"]: r for r in rows}
    logged = [(int(r["channels"]), int(r["height"]), int(r["width"]), int(r["kernel"]), int(r["stride"]), int(r["pad"]),
               int(by_name[r["inputs"]]["channels"])) for r in rows if r["type"] == "Convolution"]
    ours = _executed_convs(build("resnet56_smith").eval(), torch.randn(2, 3, 32, 32))
    assert len(logged) == 55 and ours == logged
    # the logged net never puts a ReLU on a residual sum: a sum is read by convs, the next sum or the pooling
    sums = {r["layer"] for r in rows if r["type"] == "Eltwise"}
    readers = {r["type"] for r in rows if set(r["inputs"].split(";")) & sums}
    assert len(sums) == 26 and readers == {"Convolution", "Eltwise", "Pooling"}
    # He et al.'s net differs: option-A shortcuts, so no 2x2 projection and the halving comes first
    assert _executed_convs(build("resnet56").eval(), torch.randn(2, 3, 32, 32)) != logged


def test_resnet56_smith_sums_are_not_rectified_and_weights_are_caffe_xavier():
    m = build("resnet56_smith").eval()
    outs = []
    hooks = [b.register_forward_hook(lambda _m, _i, o: outs.append(o.min().item())) for b in m.blocks]
    m(torch.randn(4, 3, 32, 32))
    for h in hooks:
        h.remove()
    assert len(outs) == 26 and all(v < 0 for v in outs)  # a ReLU after the sum would make every block's output >= 0
    for conv in [x for x in m.modules() if isinstance(x, torch.nn.Conv2d | torch.nn.Linear)]:
        fan_in = conv.weight[0].numel()
        bound = (3 / fan_in) ** 0.5  # Caffe's XavierFiller: U(-sqrt(3/fan_in), +sqrt(3/fan_in)), variance 1/fan_in
        assert conv.weight.abs().max().item() <= bound
        if conv.weight.numel() >= 9216:
            assert conv.weight.var().item() == pytest.approx(1 / fan_in, rel=0.1)
    groups = {g["weight_decay"]: len(g["params"]) for g in weight_decay_groups(m, 1e-4)}
    assert groups == {0.0: 1, 1e-4: 55 + 2 * 55 + 1}  # fc bias undecayed; convs, BN scale/shift, fc weight decayed


# ---------------------------------------------------------------- BatchNorm per group (Caffe's 4 GPUs)

def test_ghost_batch_norm_normalises_each_group_and_tracks_the_first():
    from reproduce.models import GhostBatchNorm2d

    torch.manual_seed(0)
    x = torch.randn(11, 4, 5, 5) * 3 + 1  # 4 + 4 + 3: the last group is short, as an epoch's last batch is
    g = GhostBatchNorm2d(4, group=4)
    torch.nn.init.uniform_(g.weight)
    torch.nn.init.uniform_(g.bias)
    plain = torch.nn.BatchNorm2d(4)
    plain.load_state_dict(g.state_dict())
    y = g(x)
    for lo, hi in ((0, 4), (4, 8), (8, 11)):
        c = x[lo:hi]
        mean, var = c.mean((0, 2, 3), keepdim=True), c.var((0, 2, 3), unbiased=False, keepdim=True)
        want = (c - mean) / torch.sqrt(var + g.eps) * g.weight.view(1, -1, 1, 1) + g.bias.view(1, -1, 1, 1)
        assert torch.allclose(y[lo:hi], want, atol=1e-5)
    plain(x[:4])  # GPU 0's statistics: the first group's, at the same momentum
    assert torch.allclose(g.running_mean, plain.running_mean) and torch.allclose(g.running_var, plain.running_var)
    whole = torch.nn.BatchNorm2d(4)
    whole.load_state_dict(g.state_dict())
    assert not torch.allclose(y, whole(x), atol=1e-3)  # statistics of the whole batch differ
    whole.load_state_dict(g.state_dict())
    g.eval()
    whole.eval()
    assert torch.equal(g(x), whole(x))  # at test time it is plain BN with the running statistics
    xc = x.to(memory_format=torch.channels_last).requires_grad_()
    g.train()
    out = g(xc)
    assert out.is_contiguous(memory_format=torch.channels_last)
    out.square().sum().backward()
    assert xc.grad is not None and torch.isfinite(xc.grad).all()


def _ghost_pair(group=4, c=3):
    from reproduce.models import GhostBatchNorm2d

    torch.manual_seed(1)
    a = GhostBatchNorm2d(c, group=group)
    torch.nn.init.uniform_(a.weight, 0.5, 2)
    torch.nn.init.uniform_(a.bias, -1, 1)
    b = GhostBatchNorm2d(c, group=group)
    b.load_state_dict(a.state_dict())
    return a, b


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_ghost_batch_norm_grouped_form_equals_one_batch_norm_per_group(layout):
    """The one-tensor form torch.compile gets computes what the per-group F.batch_norm calls do:
    outputs, gradients and the first group's running statistics."""
    split, grouped = _ghost_pair()
    x = (torch.randn(12, 3, 5, 5) * 2 + 0.5).to(memory_format=layout)
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    y1 = split(x1)
    grouped.num_batches_tracked.add_(1)
    y2 = grouped._grouped(x2, grouped.momentum)
    assert torch.allclose(y1, y2, atol=1e-5)
    assert y2.is_contiguous(memory_format=layout)
    w = torch.randn_like(y1)
    (y1 * w).sum().backward()
    (y2 * w).sum().backward()
    assert torch.allclose(x1.grad, x2.grad, atol=1e-5)
    assert torch.allclose(split.weight.grad, grouped.weight.grad, atol=1e-4)
    assert torch.allclose(split.bias.grad, grouped.bias.grad, atol=1e-4)
    assert torch.allclose(split.running_mean, grouped.running_mean, atol=1e-6)
    assert torch.allclose(split.running_var, grouped.running_var, atol=1e-6)
    assert not torch.allclose(split.running_var, torch.ones(3))  # the statistics did move


def test_ghost_batch_norm_compiles_to_one_reduction_per_layer_and_the_same_numbers():
    """Under torch.compile an evenly divided batch takes the grouped form (no per-group batch_norm
    in the traced graph), a short batch the per-group calls; both give eager's numbers."""
    from reproduce.models import GhostBatchNorm2d

    graphs = []

    def capture(gm, _inputs):  # a backend that only records what dynamo traced
        graphs.append({str(n.target) for n in gm.graph.nodes})
        return gm.forward

    torch._dynamo.reset()
    eager, traced = _ghost_pair()
    compiled = torch.compile(traced, backend=capture, dynamic=False)
    for n in (12, 11):  # three groups of 4; then 4 + 4 + 3, as an epoch's last batch
        x = torch.randn(n, 3, 5, 5)
        assert torch.allclose(eager(x), compiled(x), atol=1e-5)
    assert torch.allclose(eager.running_mean, traced.running_mean, atol=1e-6)
    assert torch.allclose(eager.running_var, traced.running_var, atol=1e-6)
    assert len(graphs) == 2
    even, short = graphs
    assert any("var_mean" in t for t in even) and not any("batch_norm" in t for t in even)
    assert any("batch_norm" in t for t in short)
    GhostBatchNorm2d.grouped_when_compiled = False  # the switch the benchmark compares with
    try:
        torch._dynamo.reset()
        graphs.clear()
        torch.compile(_ghost_pair()[1], backend=capture, dynamic=False)(torch.randn(12, 3, 5, 5))
        assert any("batch_norm" in t for t in graphs[0])
    finally:
        GhostBatchNorm2d.grouped_when_compiled = True


def test_ghost_batch_norm_swaps_every_batch_norm_and_keeps_its_state():
    from reproduce.models import GhostBatchNorm2d, ghost_batch_norm

    m = build("resnet20")
    before = {k: v.clone() for k, v in m.state_dict().items()}
    ghost_batch_norm(m, 8)
    assert sum(isinstance(x, GhostBatchNorm2d) for x in m.modules()) == sum(
        isinstance(x, torch.nn.BatchNorm2d) for x in m.modules()) == 19
    assert all(torch.equal(before[k], v) for k, v in m.state_dict().items())
