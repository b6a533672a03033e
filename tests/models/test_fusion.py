"""Batch norms folded into convolutions, and those packed for oneDNN with their ReLUs and
residual adds fused: the same outputs as the eval-mode module."""

import pytest
import torch
from torch import nn

from irl_inr.models.encoder import Encoder
from irl_inr.models.fusion import PackedBasicBlock, PackedConvolution, fold_batch_norm, fold_batch_norms, pack_convolutions


def with_running_statistics(module: nn.Module, seed: int = 0) -> nn.Module:
    """Batch norms with seeded running statistics and affine weights far from the defaults."""
    generator = torch.Generator().manual_seed(seed)
    for part in module.modules():
        if isinstance(part, nn.modules.batchnorm._BatchNorm):
            size = part.num_features
            part.running_mean.copy_(torch.rand(size, generator=generator) - 0.5)
            part.running_var.copy_(0.5 + 1.5 * torch.rand(size, generator=generator))
            if part.affine:
                part.weight.data.copy_(0.5 + torch.rand(size, generator=generator))
                part.bias.data.copy_(0.4 * torch.rand(size, generator=generator) - 0.2)
    return module


@pytest.mark.parametrize(("backbone", "alignment"), [("small_cnn", "moments"), ("resnet18", "none")])
def test_the_folded_encoder_equals_the_eval_encoder(backbone, alignment):
    torch.manual_seed(0)
    encoder = with_running_statistics(Encoder(backbone, 8, 32, alignment=alignment)).eval()
    nn.init.normal_(encoder.rotation_head.weight, std=0.1)
    nn.init.normal_(encoder.translation_head.weight, std=0.1)
    folded = fold_batch_norms(encoder)
    assert not any(isinstance(part, nn.BatchNorm2d) for part in folded.modules())
    images = torch.rand(6, 1, 24, 24, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        expected, got = encoder(images), folded(images)
    for name, want, have in zip(expected._fields, expected, got):
        scale = want.abs().max()
        assert float((have - want).abs().max() / scale) < 1e-5, name


def test_folding_leaves_the_original_as_it_is():
    torch.manual_seed(0)
    encoder = Encoder("small_cnn", 8, 32).train()
    state = {name: value.clone() for name, value in encoder.state_dict().items()}
    folded = fold_batch_norms(encoder)
    assert encoder.training and not folded.training
    assert sum(isinstance(part, nn.BatchNorm2d) for part in encoder.modules()) == 3
    assert all(torch.equal(state[name], value) for name, value in encoder.state_dict().items())
    assert not any(parameter.requires_grad for parameter in folded.parameters())


def test_one_convolution_with_bias_folds_exactly_in_float64():
    torch.manual_seed(0)
    convolution = nn.Conv2d(3, 5, 3, padding=1).double()
    batch_norm = with_running_statistics(nn.BatchNorm2d(5)).double().eval()
    images = torch.rand(2, 3, 7, 7, dtype=torch.float64)
    folded = fold_batch_norm(convolution, batch_norm)
    torch.testing.assert_close(folded(images), batch_norm(convolution(images)), rtol=1e-12, atol=1e-12)


def test_batch_statistics_cannot_be_folded():
    with pytest.raises(ValueError, match="cannot be folded"):
        fold_batch_norm(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4, track_running_stats=False))
    with pytest.raises(ValueError, match="4 channels, the convolution 3 outputs"):
        fold_batch_norm(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(4))


@pytest.mark.parametrize(("backbone", "alignment"), [("small_cnn", "moments"), ("resnet18", "none")])
def test_the_packed_encoder_equals_the_eval_encoder(backbone, alignment):
    """Packed convolutions with fused ReLUs and residual adds: the eval encoder's codes and
    poses within 1e-5 relative (float rounding), also for a batch size and image size other
    than the packing's, and no ReLU or batch norm left in the backbone."""
    torch.manual_seed(0)
    encoder = with_running_statistics(Encoder(backbone, 8, 32, alignment=alignment)).eval()
    nn.init.normal_(encoder.rotation_head.weight, std=0.1)
    nn.init.normal_(encoder.translation_head.weight, std=0.1)
    packed = fold_batch_norms(encoder)
    packed.backbone.to(memory_format=torch.channels_last)
    packed.memory_format = torch.channels_last
    pack_convolutions(packed.backbone, (1, 24, 24), batch_size=4)
    kinds = {type(part) for part in packed.backbone.modules()}
    assert nn.ReLU not in kinds and nn.Conv2d not in kinds and PackedConvolution in kinds
    assert (PackedBasicBlock in kinds) == (backbone == "resnet18")
    for batch, size in [(4, 24), (7, 20)]:
        images = torch.rand(batch, 1, size, size, generator=torch.Generator().manual_seed(1))
        kept = images.clone()
        with torch.inference_mode():
            expected, got = encoder(images), packed(images)
        assert torch.equal(images, kept)
        for name, want, have in zip(expected._fields, expected, got):
            assert float((have - want).abs().max() / want.abs().max()) < 1e-5, name


def test_only_folded_backbones_can_be_packed():
    with pytest.raises(ValueError, match="fold the batch norms first"):
        pack_convolutions(Encoder("small_cnn", 8, 32).eval().backbone, (1, 24, 24), batch_size=4)
