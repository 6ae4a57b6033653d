"""Every number the study compares against, each with the place it comes from.

These are reference facts — values printed in the papers, in Smith's published logs, in He et
al. — not measurements of ours. ``CLAIMS.md``'s "paper" column, the notebooks' paragraphs, the
stars on the figures and the claim rules all read them from here, so a value is typed once, next
to its source, and nothing points outside the repository.

Sources (each :class:`Ref` names one of these plus the table, section or log):

- **CLR**: L. N. Smith, *Cyclical Learning Rates for Training Neural Networks*, WACV 2017, arXiv 1506.01186.
- **DA**: L. N. Smith, *A disciplined approach to neural network hyper-parameters: Part 1*, arXiv 1803.09820.
- **SC**: L. N. Smith & N. Topin, *Super-Convergence*, arXiv 1708.07120.
- **He et al.**: K. He, X. Zhang, S. Ren, J. Sun, *Deep Residual Learning for Image Recognition*, CVPR 2016, arXiv 1512.03385.
- **Smith's logs**: the Caffe logs he published (repositories and paths in ``experiments/reference/README.md``).
- **seed blog / seed post**: the public write-ups the study started from ("Finding Good Learning
  Rate and The One Cycle Policy"; "Recreating Cyclical Learning Rates", a Keras callback post).
  Their printed accuracies are running averages without augmentation (the notebook behind them
  accumulates its counters across epochs), so the papers' values come first where both exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

# Smith's logged curves, parsed from his published Caffe logs (sources: that folder's README)
REFERENCE = Path(__file__).resolve().parents[1] / "experiments" / "reference"


def smith_log(name: str) -> pd.DataFrame:
    """One of Smith's logged curves: iteration, lr, momentum, test_accuracy."""
    return pd.read_csv(REFERENCE / name)

CLR = "CLR (arXiv 1506.01186)"
DA = "DA (arXiv 1803.09820)"
SC = "SC (arXiv 1708.07120)"
HE = "He et al. 2016 (arXiv 1512.03385)"
SEED_BLOG = "seed blog (running averages, no augmentation)"
SEED_POST = "seed post (Keras CLR callback)"
LOG_C4 = ("Smith's log lnsmith54/hyperParam1 @ c5dd3de, Cifar/results/"
          "gResnet56_ResTBS512LR.0800.8M.95WD1e-4Epoch95BS128b_1")
LOG_C1 = "Smith's log lnsmith54/super-convergence @ ecc5615, Results/range3Iter5kFig2b"


@dataclass(frozen=True)
class Ref:
    """One reference value: what it is, where it is printed, and its own ± where the source gives one."""

    value: float
    source: str
    pm: float | None = None  # the source's own spread (DA's "92.0 ± 0.2"), not an interval of ours
    at: int | None = None  # the iteration the source measured it at, where it says

    def text(self, unit: str = "%") -> str:
        v = f"{100 * self.value:.{_decimals(self.value)}f}" if unit == "%" else f"{self.value:g}"
        pm = "" if self.pm is None else f" ± {100 * self.pm:.1f}" if unit == "%" else f" ± {self.pm:g}"
        at = "" if self.at is None else f" at {self.at:,} it"
        return f"{v}{pm}{' %' if unit == '%' else ''}{at} ({self.source})"


def _decimals(v: float) -> int:
    """As printed: 92.0 %, 85.97 % — the digits the source gave (at most two after the point)."""
    return 1 if abs(round(100 * v, 1) - 100 * v) < 1e-9 else 2


# C1: the SC range test (LR 0 -> 3 linearly over 5k iterations) as Smith's log recorded it; the
# figures and the reading in claims.py recompute it from the CSV parsed from that log.
C1_PEAK = Ref(0.816, LOG_C1)
C1_AT_3 = Ref(0.784, LOG_C1)
C1_LOG_CSV = "smith_sc_range_test_resnet56_5k.csv"  # under experiments/reference/
C1_LOSS_FALLS_TO_LR = Ref(1.0, "seed blog; SC Fig. 2b")  # "loss still falls up to LR ~1"

# C2: the bounds CLR read off its cifar10-full range test (LR 0 -> 0.02 over 8 epochs).
C2_BASE = Ref(0.001, f"{CLR} §4.1, Fig. 3")
C2_MAX = Ref(0.006, f"{CLR} §4.1, Fig. 3")

# C3: CLR Table 1, CIFAR-10 rows (cifar10-full): accuracy and the iteration it was reached at.
C3 = {
    "fixed": Ref(0.814, f"{CLR} Table 1", at=70_000),
    "triangular2-3stage": Ref(0.814, f"{CLR} Table 1 (three stages: Table 2)", at=25_000),
    "decay": Ref(0.785, f"{CLR} Table 1", at=25_000),
    "exp": Ref(0.791, f"{CLR} Table 1", at=70_000),
    "exp_range": Ref(0.822, f"{CLR} Table 1", at=42_000),
}

# C4: ResNet-56, 1cycle 0.08-0.8, batch 512, wd 1e-4, 9,277 iterations.
C4 = Ref(0.920, f"{DA} Table 1", pm=0.002, at=9_277)
C4_LOG = Ref(0.919, f"{LOG_C4}, last logged test accuracy (6,400 images)")
C4_LOG_CSV = "smith_resnet56_1cycle_bs512.csv"  # under experiments/reference/
C4_SEED_BLOG = Ref(0.9154, SEED_BLOG)

# C5: the same LR cycle with constant momentum.
C5 = {0.9: Ref(0.914, f"{DA} Table 1"), 0.95: Ref(0.921, f"{DA} Table 1", pm=0.001)}
C5_SEED_BLOG = Ref(0.9130, SEED_BLOG)

# C6: He et al.'s step schedule for ResNet-56 (batch 128, LR 0.1, /10 at 32k and 48k, stop at 64k).
C6 = Ref(0.9303, f"{HE} Table 6", at=64_000)
C6_ITERATIONS = 64_000  # "needs ~64k iterations for that accuracy" (seed blog; He et al.)

# C7: ResNet-56, 50 epochs, 1cycle 0.3-3, batch 512, per weight decay.
C7 = {1e-3: Ref(0.60, SEED_BLOG), 1e-4: Ref(0.8597, SEED_BLOG), 1e-5: Ref(0.8778, SEED_BLOG)}

# C8: the Keras-style CNN with Adam: CLR 0.001-0.005 for 50 epochs against a fixed LR for 150.
C8_GAIN = Ref(0.016, SEED_POST)  # "CLR ~1.6 points better in a third of the iterations"
C8_BASE = Ref(0.001, SEED_POST)
C8_MAX = Ref(0.005, SEED_POST)


@dataclass(frozen=True)
class StepsizeRow:
    """C9: one line of the papers' stepsize arithmetic (CLR §3.3 and §4.2; seed notes)."""

    setting: str
    images: int
    batch_size: int
    epochs_per_step: float
    iterations_per_epoch: int  # as the paper prints it (rounded)
    stepsize: int | None  # as the paper prints it (a round number), None where it gives none


CIFAR10_TRAIN = 50_000
IMAGENET_TRAIN = 1_281_167
C9_SOURCE = f"{CLR} §3.3, §4.2; seed notes"
C9 = (
    StepsizeRow("CIFAR-10, batch 100 (cifar10-full)", CIFAR10_TRAIN, 100, 4, 500, 2_000),
    StepsizeRow("AlexNet, ImageNet, batch 256", IMAGENET_TRAIN, 256, 6, 5_005, 30_000),
    StepsizeRow("GoogLeNet, ImageNet, batch 128", IMAGENET_TRAIN, 128, 2, 10_009, 20_000),
    StepsizeRow("GoogLeNet, ImageNet, batch 128", IMAGENET_TRAIN, 128, 3, 10_009, 30_000),
    StepsizeRow("GoogLeNet, ImageNet, batch 128", IMAGENET_TRAIN, 128, 4, 10_009, 40_000),
    StepsizeRow("GoogLeNet range test (4 epochs)", IMAGENET_TRAIN, 128, 4, 10_009, None),
)
