"""CIFAR-10 sources, the device loader and the honest evaluation."""

import hashlib

import numpy as np
import pytest
import torch

from reproduce import data as D
from reproduce.evaluation import VERDICT_FIELDS, Evaluator, unpack_verdicts


def _npz_folder(tmp_path, n=40, exact_n=None, with_sums=True):
    rng = np.random.default_rng(0)
    names = []
    for i in range(1, 6):
        np.savez_compressed(tmp_path / f"data_batch_{i}.npz", x=rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8),
                            y=rng.integers(0, 10, n, dtype=np.uint8))
        names.append(f"data_batch_{i}.npz")
    exact = np.zeros(n, bool)
    exact[: exact_n if exact_n is not None else n] = True
    tx = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    ty = np.zeros(n, np.uint8)
    np.savez_compressed(tmp_path / "test_batch.npz", x=tx, y=ty, exact=exact)
    np.savez_compressed(tmp_path / "test_batch_jpeg.npz", x=tx // 2 * 2, y=ty)
    names += ["test_batch.npz", "test_batch_jpeg.npz"]
    if with_sums:
        lines = [f"{hashlib.sha256((tmp_path / f).read_bytes()).hexdigest()}  {f}" for f in names]
        (tmp_path / "SHA256SUMS").write_text("\n".join(lines) + "\n")
    return tmp_path


def test_npz_folder_source(tmp_path):
    folder = _npz_folder(tmp_path, exact_n=7)
    tr = D.load_cifar10(str(folder), "train")
    te = D.load_cifar10(str(folder), "test")
    assert tr.x.shape == (200, 3, 32, 32) and tr.x.dtype == torch.uint8 and tr.y.dtype == torch.int64
    assert tr.exact is None and int(te.exact.sum()) == 7 and te.jpeg_x.shape == te.x.shape
    info = te.describe()
    assert info["exact_images"] == 7 and info["source"].startswith("npz:") and "test_batch.npz" in info["file_sha256"]
    # HWC on disk -> CHW here, pixel for pixel
    with np.load(folder / "data_batch_2.npz") as d:
        assert torch.equal(tr.x[40], torch.from_numpy(d["x"][0]).permute(2, 0, 1))


def test_corrupt_and_missing_data_say_how_to_get_it(tmp_path):
    folder = _npz_folder(tmp_path)
    (folder / "data_batch_3.npz").write_bytes(b"not a zip")
    with pytest.raises(D.DataError, match="checksum.*corrupt.*--data"):
        D.load_cifar10(str(folder), "train")
    with pytest.raises(D.DataError, match="does not exist.*download"):
        D.load_cifar10(str(tmp_path / "nowhere"), "train")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(D.DataError, match="no CIFAR-10 found"):
        D.load_cifar10(str(empty), "test")


def test_image_folder_source(tmp_path):
    from PIL import Image

    for split in ("train", "test"):
        for c in ("cat", "dog"):
            (tmp_path / split / c).mkdir(parents=True)
            for i in range(3):
                Image.fromarray(np.full((32, 32, 3), 10 * i, np.uint8)).save(tmp_path / split / c / f"{i}.png")
    tr = D.load_cifar10(str(tmp_path), "train")
    assert tr.x.shape == (6, 3, 32, 32) and tr.y.tolist() == [0, 0, 0, 1, 1, 1]


def test_env_var_points_to_data(tmp_path, monkeypatch):
    folder = _npz_folder(tmp_path)
    monkeypatch.setenv("CIFAR10_DIR", str(folder))
    assert D.load_cifar10(None, "test").source == f"npz:{folder.resolve()}"


def _loader(**kw):
    ds = D.synthetic(100, seed=1)
    args = dict(augment="crop_flip", normalize=D.Normalizer("channel", ds), seed=3)
    return D.DeviceLoader(ds, 32, **(args | kw)), ds


def test_loader_deterministic_and_resumable():
    a, _ = _loader()
    b, _ = _loader()
    e1 = [x for x, _ in a.epoch(1)]
    assert all(torch.equal(x, y) for x, y in zip(e1, (x for x, _ in b.epoch(1))))
    # resuming mid-epoch gives the same remaining batches
    assert all(torch.equal(x, y) for x, y in zip(e1[2:], (x for x, _ in b.epoch(1, start=2))))
    assert not torch.equal(e1[0], next(iter(a.epoch(2)))[0])
    c, _ = _loader(seed=4)
    assert not torch.equal(e1[0], next(iter(c.epoch(1)))[0])


def test_loader_lengths_and_shapes():
    a, _ = _loader()
    sizes = [len(y) for _, y in a.epoch(0)]
    assert len(a) == 4 and sizes == [32, 32, 32, 4]
    d, _ = _loader(drop_last=True)
    assert len(d) == 3 and [len(y) for _, y in d.epoch(0)] == [32, 32, 32]
    x, y = next(iter(_loader(channels_last=True)[0].epoch(0)))
    assert x.shape == (32, 3, 32, 32) and x.dtype == torch.float32 and x.is_contiguous(memory_format=torch.channels_last)
    # every image of an epoch is seen exactly once
    labels = torch.cat([y for _, y in a.epoch(0)])
    assert sorted(labels.tolist()) == sorted(a.y.tolist())


def test_augmentations_are_crops_and_flips():
    x = torch.arange(2 * 3 * 32 * 32, dtype=torch.float32).view(2, 3, 32, 32)
    centre = D.random_crop(x, torch.tensor([[4, 4], [4, 4]]), pad=4)
    assert torch.equal(centre, x)
    shifted = D.random_crop(x, torch.tensor([[0, 8], [0, 8]]), pad=4)  # rows; cols
    assert torch.equal(shifted[0, :, 4:, 4:], x[0, :, :28, :28]) and (shifted[0, :, :4] == 0).all()
    assert torch.equal(shifted[1, :, :28, :28], x[1, :, 4:, 4:]) and (shifted[1, :, :, 28:] == 0).all()
    # flip-only: each image is either itself or its mirror
    a, ds = _loader(augment="flip", normalize=D.Normalizer("mean_image", D.synthetic(100, seed=1)))
    perm, flips, _ = a._draws(0)
    xb, _ = next(iter(a.epoch(0)))
    raw = ds.x[perm[:32]].float()
    expect = torch.where(flips[perm[:32]].view(-1, 1, 1, 1), raw.flip(3), raw) - a.normalize.shift
    assert torch.allclose(xb, expect)
    none, _ = _loader(augment="none")
    xb, _ = next(iter(none.epoch(0)))
    perm, _, _ = none._draws(0)
    assert torch.allclose(xb, none.normalize(none.x[perm[:32]]))


def test_normalizers():
    ds = D.synthetic(64)
    ch = D.Normalizer("channel", ds)(torch.full((1, 3, 2, 2), 255 * 0.5, dtype=torch.uint8).float().round().to(torch.uint8))
    assert torch.allclose(ch[0, :, 0, 0], (torch.tensor(127.0) / 255 - torch.tensor(D.CIFAR10_MEAN)) / torch.tensor(D.CIFAR10_STD))
    mi = D.Normalizer("mean_image", ds)
    assert torch.allclose(mi(ds.x).mean(0), torch.zeros(3, 32, 32), atol=1e-3)  # 0-255 scale, zero-mean
    with pytest.raises(ValueError, match="normalize"):
        D.Normalizer("zscore", ds)


def test_bad_loader_arguments():
    ds = D.synthetic(10)
    with pytest.raises(ValueError, match="augment"):
        D.DeviceLoader(ds, 4, augment="rotate", normalize=D.Normalizer("channel", ds))
    with pytest.raises(ValueError, match="batch_size"):
        D.DeviceLoader(ds, 0, normalize=D.Normalizer("channel", ds))


def test_evaluator_reports_exact_subset(tmp_path):
    folder = _npz_folder(tmp_path, exact_n=10)
    te = D.load_cifar10(str(folder), "test")
    te.y[10:] = 1  # exact images are class 0, the rest class 1

    class Zero(torch.nn.Module):
        def forward(self, x):
            return torch.nn.functional.one_hot(torch.zeros(len(x), dtype=torch.long), 10).float()

    evaluator = Evaluator(te, D.Normalizer("channel", te), "cpu", False, False)
    ev = evaluator(Zero())
    assert ev["test_accuracy"] == 1.0 and ev["test_n"] == 10
    assert ev["test_accuracy_all"] == pytest.approx(10 / 40)
    assert ev["test_accuracy_exact_as_jpeg"] == 1.0
    assert ev["test_n_all"] == 40 and ev["test_jpeg_lost"] == ev["test_jpeg_gained"] == 0
    assert ev["test_accuracy_lo95"] < 1.0 == ev["test_accuracy_hi95"]
    # and what it said of each image, for differences paired image by image
    bits = evaluator.verdict_bits()
    assert sorted(bits) == sorted(VERDICT_FIELDS)
    assert unpack_verdicts(bits["test_correct_bits"], 40).tolist() == [True] * 10 + [False] * 30
    assert unpack_verdicts(bits["test_exact_correct_bits"], 10).all()
    assert unpack_verdicts(bits["test_exact_as_jpeg_correct_bits"], 10).all()


def test_no_data_and_no_network_is_one_line_saying_how_to_point_at_a_copy(tmp_path, monkeypatch, capsys):
    import urllib.error

    import torchvision.datasets

    from reproduce.cli import main
    from reproduce.data import _load_cached

    def offline(*_a, **_k):
        raise urllib.error.URLError("Temporary failure in name resolution")

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", offline)
    monkeypatch.delenv("CIFAR10_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    _load_cached.cache_clear()
    assert main(["train", "--model", "keras_cnn", "--iterations", "2", "--no-progress", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: data=download failed") and "--data PATH or CIFAR10_DIR=PATH" in err
    assert len(err.splitlines()) == 1 and "Temporary failure in name resolution" in err
