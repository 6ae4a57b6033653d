"""The ImageNet path (ImageFolder tree, torchvision's AlexNet/GoogLeNet) on a tiny generated tree:
there is no ImageNet here, so this proves the loading, training and evaluation path only."""

import numpy as np
import pytest

from reproduce.data import DataError
from reproduce.imagenet import FolderLoader, image_folder
from reproduce.train import TrainConfig, range_test, train


@pytest.fixture
def tree(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, n in (("train", 8), ("val", 4)):
        for c, colour in (("n01", 40), ("n02", 200)):
            (tmp_path / split / c).mkdir(parents=True)
            for i in range(n):
                img = np.clip(colour + rng.normal(0, 20, (80, 96, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(img).save(tmp_path / split / c / f"{i}.JPEG")
    return tmp_path


def _cfg(tree, **kw):
    base = dict(dataset="imagenet", data=str(tree), model="alexnet", image_size=64, workers=0, batch_size=4,
                iterations=6, eval_every=3, augment="none", schedule={"policy": "triangular", "base_lr": 0.001,
                "max_lr": 0.01, "stepsize": 2}, experiment="imagenet", progress=False, weight_decay=5e-4)
    return TrainConfig(**(base | kw))


def test_folder_loader_order_is_seeded_and_resumable(tree):
    ds = image_folder(tree, "train", 64)
    a = FolderLoader(ds, 4, seed=1, workers=0)
    assert len(a) == 4
    labels = [y.tolist() for _, y in a.epoch(0)]
    assert sorted(sum(labels, [])) == sorted(t for _, t in ds.samples)
    assert [y.tolist() for _, y in a.epoch(0, start=2)] == labels[2:]
    x, _ = next(iter(a.epoch(0)))
    assert x.shape == (4, 3, 64, 64)
    half = FolderLoader(ds, 4, seed=1, workers=0, rank=1, world=2)
    assert [y.tolist() for _, y in half.epoch(0)] == [lab[2:] for lab in labels]


@pytest.mark.parametrize("model", ["alexnet", "googlenet"])
def test_train_and_range_test_on_image_folder(tree, tmp_path, model):
    run = train(_cfg(tree, model=model), tmp_path / "r")
    s = run.summary
    assert s["status"] == "finished" and s["test_n"] == 8 and 0 <= s["test_top5"] <= 1
    assert run.provenance["data"]["train"]["classes"] == 2 and run.provenance["data"]["train"]["images"] == 16
    rt = range_test(_cfg(tree, model=model, iterations=5), start_lr=1e-4, end_lr=0.1, eval_every=2, root=tmp_path / "r")
    assert rt.summary["kind"] == "range_test" and len(rt.metrics) >= 2


def test_imagenet_needs_a_folder(tmp_path):
    with pytest.raises(DataError, match="--data PATH"):
        train(_cfg(tmp_path, data=None), tmp_path / "r")
    with pytest.raises(DataError, match="ImageFolder layout"):
        train(_cfg(tmp_path / "nowhere"), tmp_path / "r")


def test_bad_dataset_named():
    with pytest.raises(ValueError, match="dataset='imagenet21k'"):
        TrainConfig(dataset="imagenet21k", iterations=1)


def test_imagenet_configs_use_the_calculators_numbers():
    """The shipped configs' iteration counts come from reproduce.stepsize (claim C9), and load."""
    from pathlib import Path

    import yaml

    from reproduce import stepsize
    from reproduce.studies import _configs

    root = Path(__file__).resolve().parents[1] / "experiments" / "imagenet"
    for name, batch, epochs in (("alexnet", 256, 4), ("googlenet", 128, 4)):
        spec = yaml.safe_load((root / f"{name}.yaml").read_text())
        ipe = stepsize.iterations_per_epoch(stepsize.IMAGENET_TRAIN, batch)
        assert spec["defaults"]["batch_size"] == batch and spec["defaults"]["eval_every"] == ipe
        ((cfg, range_args),) = list(_configs(spec, "range_tests"))
        assert cfg.model == name and cfg.iterations == stepsize.stepsize(stepsize.IMAGENET_TRAIN, batch, epochs)
    text = (root / "alexnet.yaml").read_text() + (root / "googlenet.yaml").read_text()
    assert f"stepsize: {stepsize.stepsize(stepsize.IMAGENET_TRAIN, 256, 6)}" in text
    assert f"stepsize: {stepsize.stepsize(stepsize.IMAGENET_TRAIN, 128, 3)}" in text
