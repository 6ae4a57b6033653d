"""Claim C9: the CLR paper's stepsize arithmetic."""

import pytest

from reproduce import stepsize as Z


def test_paper_iterations_per_epoch():
    assert Z.iterations_per_epoch(50_000, 100) == 500
    assert Z.iterations_per_epoch(1_281_167, 256) == 5005  # 5,004.6 -> 5,005 as the paper quotes
    assert Z.iterations_per_epoch(1_281_167, 128) == 10009  # 10,009.1 -> 10,009
    # what a loader runs instead
    assert Z.iterations_per_epoch(1_281_167, 256, "ceil") == 5005
    assert Z.iterations_per_epoch(1_281_167, 256, "floor") == 5004
    assert Z.iterations_per_epoch(1_281_167, 128, "ceil") == 10010
    assert Z.iterations_per_epoch(50_000, 512, "ceil") == 98  # ResNet-56 batch 512: last partial batch kept


def test_paper_stepsizes():
    assert Z.stepsize(50_000, 100, 4) == 2000
    assert Z.stepsize(1_281_167, 256, 6) == 30_030  # "about 30,000"
    for row in Z.paper_table():
        assert row["it_per_epoch_match"], row
        if row["paper_stepsize"] is not None:
            assert abs(row["stepsize_rel_diff"]) < 0.002, row


def test_advice_warning_and_errors():
    with pytest.warns(UserWarning, match="2-10"):
        Z.stepsize(50_000, 100, 20)
    with pytest.raises(ValueError, match="batch_size"):
        Z.iterations_per_epoch(50_000, 0)
    with pytest.raises(ValueError, match="rounding"):
        Z.iterations_per_epoch(50_000, 100, "up")
    with pytest.raises(ValueError, match="epochs_per_step"):
        Z.stepsize(50_000, 100, 0)
