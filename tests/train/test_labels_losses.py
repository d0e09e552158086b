"""GLD targets and the losses of DESIGN 2."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch not installed")

from gldpose_sdk.manifest import BinSpec  # noqa: E402
from gldpose_train.labels import gld_targets, hard_bin, target_expectation_map  # noqa: E402
from gldpose_train.losses import (  # noqa: E402
    LossConfig,
    compute_loss,
    decode_map,
    expected_angle,
    gld_loss,
)

BINS = BinSpec()


@pytest.mark.parametrize("form", ["gaussian", "paper_eq1"])
def test_targets_sum_to_one_and_peak_at_the_true_bin(form):
    angles = torch.tensor([[-97.0, 0.7, 42.2], [12.4, -61.4, 98.0]])
    d = gld_targets(angles, BINS, 4.0, form)
    assert d.shape == (2, 3, 66)
    assert torch.allclose(d.sum(-1), torch.ones(2, 3), atol=1e-6)
    assert torch.equal(d.argmax(-1), hard_bin(angles, BINS))


def test_gaussian_target_has_sigma_in_bins_and_continuous_centre():
    d = gld_targets(torch.tensor([1.5]), BINS, 4.0)[0]
    centres = torch.as_tensor(BINS.centres_deg())
    mean = (d * centres).sum()
    std = ((d * (centres - mean) ** 2).sum()).sqrt()
    assert mean.item() == pytest.approx(1.5, abs=1e-3)
    assert std.item() == pytest.approx(12.0, rel=1e-3)   # 4 bins of 3 degrees


def test_binned_centre_snaps_to_the_bin():
    d = gld_targets(torch.tensor([1.4]), BINS, 2.0, binned_centre=True)[0]
    mean = (d * torch.as_tensor(BINS.centres_deg())).sum()
    assert mean.item() == pytest.approx(1.5, abs=1e-3)


def test_paper_eq1_as_printed_is_nearly_flat():
    d = gld_targets(torch.tensor([1.5]), BINS, 4.0, "paper_eq1")[0]
    ratio = (d.max() / d.min()).item()
    assert ratio == pytest.approx(torch.e ** 0.25, rel=1e-3)   # e^(1/sigma)
    assert ratio < 1.3


def test_kl_is_zero_when_prediction_equals_target():
    angles = torch.tensor([[10.0, -20.0, 5.0]])
    target = gld_targets(angles, BINS, 4.0)
    logits = torch.log(target)
    loss, parts = gld_loss(logits, angles, BINS, LossConfig(alpha=0.0))
    assert parts["kl"].item() == pytest.approx(0.0, abs=1e-5)
    assert parts["eu"].item() == pytest.approx(0.0, abs=1e-5)
    assert loss.item() == pytest.approx(0.0, abs=1e-5)


def test_euclidean_term_is_the_norm_not_its_square():
    angles = torch.tensor([[0.0, 0.0, 0.0]])
    target = gld_targets(angles, BINS, 4.0)
    logits = torch.zeros(1, 3, 66)
    _, parts = gld_loss(logits, angles, BINS, LossConfig(alpha=0.0))
    expected = torch.linalg.vector_norm(target - 1 / 66, dim=-1).sum()
    assert parts["eu"].item() == pytest.approx(expected.item(), rel=1e-5)


@pytest.mark.parametrize("name", ["gld", "hopenet"])
def test_losses_have_finite_gradients_at_extremes(name):
    logits = (torch.randn(4, 3, 66) * 1e3).requires_grad_()
    angles = torch.tensor([[-98.9, 0, 98.9]] * 4)
    loss, _ = compute_loss(logits, angles, BINS, LossConfig(name=name, alpha=1.0))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()


def test_mse_term_uses_the_decoded_angle():
    angles = torch.tensor([[30.0, 0.0, 0.0]])
    logits = torch.full((1, 3, 66), -50.0)
    logits[0, :, 33] = 50.0                         # all mass on centre +1.5 degrees
    assert expected_angle(logits, BINS)[0, 0].item() == pytest.approx(1.5, abs=1e-4)
    _, parts = compute_loss(logits, angles, BINS, LossConfig(name="hopenet", alpha=1.0))
    assert parts["mse"].item() == pytest.approx(28.5**2 + 1.5**2 * 2, rel=1e-4)


def test_loss_config_rejects_unknown_names():
    with pytest.raises(ValueError, match="hopenet"):
        LossConfig(name="l1")


@pytest.mark.parametrize("sigma", [2.0, 4.0])
def test_expectation_map_undoes_the_cut_off_targets_shrinkage(sigma):
    """A perfect network's expectation (the target's own) maps back to the true angle."""
    angles = torch.linspace(-99, 99, 1001, dtype=torch.float64)    # off the 1-degree knots
    centres = torch.as_tensor(BINS.centres_deg()).double()
    expectation = (gld_targets(angles, BINS, sigma).double() @ centres).numpy()
    shortfall = abs(expectation - angles.numpy())
    assert shortfall.max() > 2.0 and shortfall[abs(angles.numpy()) < 50].max() < 0.01
    back = target_expectation_map(BINS, sigma).apply(expectation)
    assert abs(back - angles.numpy()).max() < 0.05


def test_decode_map_only_for_losses_with_an_invertible_cut_off_target():
    assert decode_map(LossConfig(), BINS) == target_expectation_map(BINS, 4.0)
    assert decode_map(LossConfig(sigma_bins=2.0), BINS) == target_expectation_map(BINS, 2.0)
    assert decode_map(LossConfig(name="hopenet"), BINS) is None
    assert decode_map(LossConfig(binned_centre=True), BINS) is None
    assert decode_map(LossConfig(label_form="paper_eq1"), BINS) is None
    assert decode_map(LossConfig(sigma_bins=0.1), BINS) is None     # one-hot: a staircase
    assert decode_map(LossConfig(sigma_bins=0.5), BINS) is not None


def test_shipped_model_carries_the_map_of_its_own_training_loss():
    """The default model's manifest holds exactly the map its recorded loss implies."""
    from gldpose_sdk.builtin_models import default_model_dir
    from gldpose_sdk.manifest import read_manifest
    from gldpose_train.losses import loss_of_training

    manifest = read_manifest(default_model_dir())
    assert manifest.training.loss == "gld" and manifest.expectation_map is not None
    derived = decode_map(loss_of_training(manifest.training), manifest.bins)
    shipped = manifest.expectation_map
    assert derived.source == shipped.source   # knots: float32 softmax, so not bit for bit
    np.testing.assert_allclose(derived.expectation_deg, shipped.expectation_deg, atol=1e-4)
    np.testing.assert_allclose(derived.angle_deg, shipped.angle_deg, atol=1e-9)
