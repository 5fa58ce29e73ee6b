"""Shapes, dueling arithmetic, attention normalisation and input scaling of the Q-networks."""

from __future__ import annotations

import pytest
import torch

from agents.config import dqn_config_for
from agents.networks import (
    AttentionQNetwork,
    MultiHeadAttention,
    QOutput,
    build_q_network,
    dueling_q,
    sinusoidal_2d,
)

GRID_SHAPE = (4, 7, 9)
ATARI_SHAPE = (4, 84, 84)
N_ACTIONS = 5


def _input(shape: tuple[int, ...], batch: int, high: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    return torch.randint(0, high, (batch, *shape), dtype=torch.uint8, generator=generator)


@pytest.mark.parametrize("network", ["mlp", "cnn", "attention"])
@pytest.mark.parametrize("dueling", [False, True])
@pytest.mark.parametrize(("kind", "shape", "high", "scale"), [
    ("gridworld", GRID_SHAPE, 2, 1.0),
    ("atari", ATARI_SHAPE, 256, 1 / 255),
])
def test_every_network_gives_q_of_shape_batch_by_actions(
    network: str, dueling: bool, kind: str, shape: tuple[int, ...], high: int, scale: float
) -> None:
    torch.manual_seed(0)
    config = dqn_config_for(kind, network=network, dueling=dueling)
    net = build_q_network(config, shape, N_ACTIONS, scale)
    with torch.no_grad():
        out = net(_input(shape, 3, high))
    assert isinstance(out, QOutput)
    assert out.q.shape == (3, N_ACTIONS) and out.q.dtype == torch.float32
    assert torch.isfinite(out.q).all()
    has_value = dueling or network == "attention"
    assert (out.value is not None) == has_value
    if out.value is not None:
        assert out.value.shape == (3,)
    assert (out.attention is not None) == (network == "attention")


@pytest.mark.parametrize(("kind", "shape", "high", "grid"), [
    ("gridworld", GRID_SHAPE, 2, (7, 9)),
    ("atari", ATARI_SHAPE, 256, (7, 7)),
])
def test_attention_weights_are_per_head_distributions_over_the_grid(
    kind: str, shape: tuple[int, ...], high: int, grid: tuple[int, int]
) -> None:
    torch.manual_seed(0)
    config = dqn_config_for(kind, network="attention", attention_heads=4, attention_dim=32)
    net = build_q_network(config, shape, N_ACTIONS, 1.0)
    with torch.no_grad():
        attention = net(_input(shape, 2, high)).attention
    assert attention is not None
    assert attention.shape == (2, 4, *grid)
    assert (attention >= 0).all()
    torch.testing.assert_close(attention.sum(dim=(-2, -1)), torch.ones(2, 4))


def test_dueling_aggregation_numbers() -> None:
    value = torch.tensor([1.0, -2.0])
    advantage = torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 6.0]])
    expected = torch.tensor([[0.0, 1.0, 2.0], [-4.0, -4.0, 2.0]])
    torch.testing.assert_close(dueling_q(value, advantage), expected)


def test_dueling_network_value_is_the_mean_of_q() -> None:
    torch.manual_seed(0)
    config = dqn_config_for("gridworld", network="cnn", dueling=True)
    net = build_q_network(config, GRID_SHAPE, N_ACTIONS, 1.0)
    with torch.no_grad():
        out = net(_input(GRID_SHAPE, 4, 2))
    torch.testing.assert_close(out.q.mean(dim=1), out.value)


@pytest.mark.parametrize("network", ["mlp", "cnn", "attention"])
def test_observation_scale_is_applied_inside_forward(network: str) -> None:
    torch.manual_seed(0)
    config = dqn_config_for("atari", network=network)
    shape = (4, 36, 40)
    scaled = build_q_network(config, shape, N_ACTIONS, 1 / 255)
    plain = build_q_network(config, shape, N_ACTIONS, 1.0)
    plain.load_state_dict(scaled.state_dict())
    pixels = _input(shape, 2, 256)
    with torch.no_grad():
        torch.testing.assert_close(scaled(pixels).q, plain(pixels.float() / 255).q)


def test_attention_uses_one_token_per_cell_on_gridworlds() -> None:
    net = build_q_network(dqn_config_for("gridworld", network="attention"), GRID_SHAPE, N_ACTIONS, 1.0)
    assert isinstance(net, AttentionQNetwork)
    assert (net.grid_h, net.grid_w) == GRID_SHAPE[1:]


def test_multi_head_attention_explicit_and_fused_paths_agree() -> None:
    torch.manual_seed(0)
    attention = MultiHeadAttention(dim=16, heads=4)
    tokens = torch.randn(3, 10, 16)
    with torch.no_grad():
        explicit, weights = attention(tokens, tokens, need_weights=True)
        fused, none = attention(tokens, tokens, need_weights=False)
    assert none is None and weights is not None
    assert weights.shape == (3, 4, 10, 10)
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, 4, 10))
    torch.testing.assert_close(explicit, fused, atol=1e-5, rtol=1e-4)


def test_multi_head_attention_is_softmax_of_scaled_dot_products() -> None:
    attention = MultiHeadAttention(dim=2, heads=1)
    with torch.no_grad():
        for layer in (attention.query, attention.key, attention.value, attention.out):
            layer.weight.copy_(torch.eye(2))
            layer.bias.zero_()
        query = torch.tensor([[[1.0, 0.0]]])
        keys = torch.tensor([[[2.0, 0.0], [0.0, 2.0]]])
        out, weights = attention(query, keys)
    scores = torch.tensor([2.0, 0.0]) / 2**0.5
    expected = torch.softmax(scores, dim=0)
    torch.testing.assert_close(weights[0, 0, 0], expected)
    torch.testing.assert_close(out[0, 0], expected @ keys[0])


def test_sinusoidal_codes_differ_per_cell() -> None:
    code = sinusoidal_2d(5, 6, 16)
    assert code.shape == (30, 16)
    assert torch.cdist(code, code).add(torch.eye(30)).min() > 0


@pytest.mark.parametrize("network", ["cnn", "attention"])
def test_channels_last_changes_the_layout_not_the_values(network: str) -> None:
    from agents.networks import build_q_network, use_channels_last

    torch.manual_seed(0)
    config = dqn_config_for("atari", network=network)
    plain = build_q_network(config, ATARI_SHAPE, N_ACTIONS, 1 / 255)
    nhwc = build_q_network(config, ATARI_SHAPE, N_ACTIONS, 1 / 255)
    nhwc.load_state_dict(plain.state_dict())
    use_channels_last(nhwc)
    x = _input(ATARI_SHAPE, 3, 256)
    torch.testing.assert_close(nhwc(x).q, plain(x).q, rtol=1e-4, atol=1e-5)
    conv = next(m for m in nhwc.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    mlp = build_q_network(dqn_config_for("gridworld", network="mlp"), GRID_SHAPE, N_ACTIONS, 1.0)
    assert use_channels_last(mlp).channels_last is False  # nothing to gain without convolutions
