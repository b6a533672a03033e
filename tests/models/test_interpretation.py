"""The invertible interpretation network: exact inverse, log-determinant against autograd,
actnorm's data-dependent start, the priors and a short fit."""

from __future__ import annotations

import pytest
import torch

from irl_inr.models.interpretation import ActNorm, InvertibleInterpretationNetwork

DIM = 6


def scrambled_flow(**options) -> InvertibleInterpretationNetwork:
    """A flow whose couplings are far from the identity (their last layers are random)."""
    torch.manual_seed(0)
    flow = InvertibleInterpretationNetwork(DIM, blocks=4, hidden=16, **options)
    with torch.no_grad():
        for coupling in flow.couplings:
            coupling.net[-1].weight.normal_(0, 0.5)
            coupling.net[-1].bias.normal_(0, 0.5)
        for actnorm in flow.actnorms:
            actnorm.loc.normal_()
            actnorm.log_scale.normal_(0, 0.3)
            actnorm.initialised.fill_(True)
    return flow


def codes(count: int = 64, seed: int = 0) -> torch.Tensor:
    return torch.randn(count, DIM, generator=torch.Generator().manual_seed(seed)) * 2


def test_inverse_recovers_the_codes_to_float32_precision():
    flow = scrambled_flow().eval()
    z = codes()
    factors, _ = flow(z)
    assert factors.shape == z.shape and not torch.allclose(factors, z)
    assert (flow.inverse(factors) - z).abs().max() < 1e-5
    assert (flow(flow.inverse(z))[0] - z).abs().max() < 1e-5


def test_log_determinant_equals_autograd_on_the_full_jacobian():
    flow = scrambled_flow().double().eval()
    z = codes(5).double()
    _, log_det = flow(z)
    for row, code in enumerate(z):
        jacobian = torch.autograd.functional.jacobian(lambda x: flow(x.unsqueeze(0))[0].squeeze(0), code)
        torch.testing.assert_close(log_det[row], torch.linalg.slogdet(jacobian)[1])


def test_actnorm_starts_from_the_first_training_batch_statistics():
    layer = ActNorm(DIM)
    z = codes(200) + 3.0
    out, log_det = layer(z)
    torch.testing.assert_close(out.mean(0), torch.zeros(DIM), atol=1e-5, rtol=0)
    torch.testing.assert_close(out.std(0), torch.ones(DIM), atol=1e-4, rtol=0)
    torch.testing.assert_close(log_det, layer.log_scale.sum().expand(200))
    again, _ = layer(z * 5)  # later batches do not move it
    torch.testing.assert_close(again, (z * 5 + layer.loc) * layer.log_scale.exp())
    torch.testing.assert_close(layer.inverse(out), z)


def test_new_flow_is_the_identity_after_actnorm_and_permutations_are_seeded():
    flow = InvertibleInterpretationNetwork(DIM, blocks=3, hidden=8, permutation_seed=4).eval()
    z = codes(10)
    factors, log_det = flow(z)
    permutation = torch.arange(DIM)
    for block in flow.permutations:
        permutation = permutation[block]
    torch.testing.assert_close(factors, z[:, permutation])
    torch.testing.assert_close(log_det, torch.zeros(10))
    same = InvertibleInterpretationNetwork(DIM, blocks=3, hidden=8, permutation_seed=4)
    other = InvertibleInterpretationNetwork(DIM, blocks=3, hidden=8, permutation_seed=5)
    assert torch.equal(flow.permutations, same.permutations)
    assert not torch.equal(flow.permutations, other.permutations)


def test_unsupervised_nll_is_the_standard_normal_density_for_the_identity_flow():
    flow = InvertibleInterpretationNetwork(DIM, blocks=2, hidden=8).eval()
    z = codes(7)
    expected = -torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(dim=1)
    torch.testing.assert_close(flow.negative_log_likelihood(z), expected)


def test_supervised_prior_centres_the_class_factor_on_the_class_mean():
    flow = InvertibleInterpretationNetwork(DIM, blocks=2, hidden=8, num_classes=3, class_dims=2).eval()
    with torch.no_grad():
        flow.class_means.copy_(torch.tensor([[0.0, 0.0], [5.0, 0.0], [0.0, 5.0]]))
    z = codes(9)
    labels = torch.arange(9) % 3
    factors, _ = flow(z)
    shifted = factors - flow.prior_means(labels)
    expected = -torch.distributions.Normal(0.0, 1.0).log_prob(shifted).sum(dim=1)
    torch.testing.assert_close(flow.negative_log_likelihood(z, labels), expected)
    batch = torch.cat([z, labels.unsqueeze(1).float()], dim=1)
    losses = flow.training_losses(batch, torch.Generator())
    torch.testing.assert_close(losses["nll"], expected.mean() / DIM)
    assert flow.predict_class(z).shape == (9,)


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(num_classes=1, class_dims=2), "num_classes >= 2"),
        (dict(num_classes=3, class_dims=DIM), "class_dims"),
        (dict(num_classes=3, class_dims=0), "class_dims"),
    ],
)
def test_bad_supervised_settings_are_errors(options, message):
    with pytest.raises(ValueError, match=message):
        InvertibleInterpretationNetwork(DIM, **options)


def test_the_unsupervised_flow_has_no_class_factor():
    flow = InvertibleInterpretationNetwork(DIM, blocks=1, hidden=4)
    with pytest.raises(ValueError, match="class factor"):
        flow.predict_class(codes(2))


@pytest.mark.learned
def test_a_short_fit_separates_two_classes_in_the_class_factor():
    """Two Gaussian blobs 4 apart along the first axis: after 150 Adam steps the NLL has
    fallen and the class factor's nearest mean picks the blob."""
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(400) % 2
    centre = torch.zeros(DIM)
    centre[0] = 2.0
    z = torch.randn(400, DIM, generator=generator) * 0.7 + torch.where(labels.unsqueeze(1) == 1, centre, -centre)
    torch.manual_seed(0)
    flow = InvertibleInterpretationNetwork(DIM, blocks=3, hidden=32, num_classes=2, class_dims=1)
    batch = torch.cat([z, labels.unsqueeze(1).float()], dim=1)
    flow.train()
    before = flow.training_losses(batch, generator)["nll"].item()  # also initialises actnorm
    optimiser = torch.optim.Adam(flow.parameters(), lr=1e-2)
    for _ in range(150):
        loss = flow.training_losses(batch, generator)["total"]
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    flow.eval()
    assert flow.training_losses(batch, generator)["nll"].item() < before - 0.2
    assert (flow.predict_class(z) == labels).float().mean() > 0.95
