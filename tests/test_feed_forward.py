"""The position-wise feed-forward layer and its kernel-size-1 convolutions: the same function."""

import pytest
import torch

from onebyone.feed_forward import (
    PositionwiseFeedForward,
    feed_forward_as_conv1d,
    feed_forward_as_conv2d,
)


def test_conv1d_and_conv2d_agree_with_the_linear_layers():
    torch.manual_seed(0)
    ffn = PositionwiseFeedForward(32, 128)
    tokens = torch.randn(2, 5, 32)  # N x L x d_model
    with torch.no_grad():
        expected = ffn(tokens)
        conv1d = feed_forward_as_conv1d(ffn)(tokens.transpose(1, 2)).transpose(1, 2)
        conv2d = feed_forward_as_conv2d(ffn)(tokens.transpose(1, 2)[:, :, None, :])
    assert torch.allclose(conv1d, expected, atol=1e-5)
    assert torch.allclose(conv2d[:, :, 0, :].transpose(1, 2), expected, atol=1e-5)


def test_bit_for_bit_on_exact_arithmetic():
    ffn = PositionwiseFeedForward(16, 64)
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for parameter in ffn.parameters():
            parameter.copy_(torch.randint(-2, 3, parameter.shape, generator=generator))
        tokens = torch.randint(-2, 3, (3, 7, 16), generator=generator).float()
        conv = feed_forward_as_conv1d(ffn)(tokens.transpose(1, 2)).transpose(1, 2)
        assert torch.equal(conv, ffn(tokens))


def test_weights_are_copies_not_shared():
    ffn = PositionwiseFeedForward(8, 16)
    conv = feed_forward_as_conv1d(ffn)
    assert torch.equal(conv[0].weight[:, :, 0], ffn.linear1.weight)
    assert conv[0].weight.data_ptr() != ffn.linear1.weight.data_ptr()


def test_bad_input_is_refused():
    with pytest.raises(
        ValueError, match=r"^PositionwiseFeedForward: x must be \.\.\. x L x 8, got 2 x 3 x 4$"
    ):
        PositionwiseFeedForward(8, 16)(torch.randn(2, 3, 4))
    with pytest.raises(TypeError):
        feed_forward_as_conv1d(torch.nn.Linear(2, 2))
    expected = r"^ffn must be an instance of PositionwiseFeedForward, got Linear"
    with pytest.raises(TypeError, match=expected):
        feed_forward_as_conv2d(torch.nn.Linear(2, 2))


def test_defaults_are_the_base_transformer_as_in_pytorch():
    """d_model = 512 and d_ff = 2048, the base model: also nn.TransformerEncoderLayer's FFN."""
    with torch.device("meta"):
        ffn = PositionwiseFeedForward()
        reference = torch.nn.TransformerEncoderLayer(d_model=512, nhead=8)
    for ours, theirs in ((ffn.linear1, reference.linear1), (ffn.linear2, reference.linear2)):
        assert ours.weight.shape == theirs.weight.shape and ours.bias.shape == theirs.bias.shape


@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_conv1d_keeps_the_dtype_and_device_of_the_layer(device):
    torch.manual_seed(0)
    ffn = PositionwiseFeedForward(4, 8).to(device=device, dtype=torch.float64)
    conv = feed_forward_as_conv1d(ffn)
    for layer in (conv[0], conv[2]):
        assert layer.weight.dtype == layer.bias.dtype == torch.float64
        assert layer.weight.device.type == layer.bias.device.type == device
    tokens = torch.randn(2, 3, 4, dtype=torch.float64, device=device)
    with torch.no_grad():
        out = conv(tokens.transpose(1, 2)).transpose(1, 2)
        if device == "cpu":
            torch.testing.assert_close(out, ffn(tokens), rtol=1e-12, atol=1e-12)


def test_a_feed_forward_without_biases_gives_convolutions_without_biases():
    torch.manual_seed(0)
    ffn = PositionwiseFeedForward(4, 8)
    ffn.linear1.bias = None  # bias-free linear layers, as in some later Transformers
    ffn.linear2.bias = None
    conv = feed_forward_as_conv1d(ffn)
    assert conv[0].bias is None and conv[2].bias is None
    tokens = torch.randn(2, 3, 4)
    with torch.no_grad():
        torch.testing.assert_close(conv(tokens.transpose(1, 2)).transpose(1, 2), ffn(tokens))
