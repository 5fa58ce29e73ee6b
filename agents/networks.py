"""Q-networks: an MLP, the Nature CNN, and a small transformer whose attention the window can draw.

Every network takes the raw observation tensor (uint8 pixels or 0/1 gridworld channels), scales it
by `obs_scale` inside `forward`, and returns a :class:`QOutput`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor, nn

from agents.config import DQNConfig

NATURE_MIN_PIXELS = 36
"""Smallest input side the Nature CNN's 8x8/4, 4x4/2, 3x3/1 stack accepts; smaller grids use 3x3/1 convs."""
CNN_SMALL_CHANNELS = (16, 16)
"""Channels of the CNN's 3x3 layers on gridworlds: small, since the flattened map feeds a dense layer."""
FFN_RATIO = 2
OUTPUT_GAIN = 0.1
"""Scale of the last layer of each head (and of the residual FFN branch): Q starts near 0, below the
reward scale, so the first TD targets rather than the random init decide the greedy actions."""
"""Transformer feed-forward width over token width (Vaswani et al. use 4; 2 halves the CPU time)."""


class QOutput(NamedTuple):
    """What a Q-network computes for a batch of observations."""

    q: Tensor
    """(B, A) action values."""
    value: Tensor | None
    """(B,) state value of a dueling head, else None."""
    attention: Tensor | None
    """(B, heads, h, w) weights of the query token over the spatial tokens, else None."""


def build_q_network(config: DQNConfig, obs_shape: tuple[int, ...], n_actions: int,
                    obs_scale: float) -> nn.Module:
    """The Q-network `config.network` names, sized for `obs_shape` (C, H, W) and `n_actions`."""
    obs_shape = tuple(int(n) for n in obs_shape)
    if config.network == "mlp":
        return MLPQNetwork(obs_shape, n_actions, obs_scale, config.hidden_dim, config.dueling)
    if config.network == "cnn":
        return CNNQNetwork(obs_shape, n_actions, obs_scale, config.hidden_dim, config.dueling)
    return AttentionQNetwork(
        obs_shape, n_actions, obs_scale, config.hidden_dim, config.attention_dim, config.attention_heads
    )


def init_layer(layer: nn.Module, gain: float | None = None) -> nn.Module:
    """Zero bias; Kaiming-normal weights for ReLU layers (He et al. 2015, gain None), orthogonal weights
    of the given gain for linear output layers (Saxe et al. 2014). Returns the layer.

    Kaiming rather than orthogonal for the hidden layers: the QR decomposition behind an orthogonal
    init takes seconds for an MLP's 28224 x 512 Atari input layer.
    """
    if gain is None:
        nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
    else:
        nn.init.orthogonal_(layer.weight, gain)
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)
    return layer


class QHead(nn.Module):
    """Maps features to Q-values: a plain two-layer head (Mnih et al. 2015) or a dueling one.

    Dueling (Wang et al. 2016, "Dueling Network Architectures for Deep RL", ICML): separate value and
    advantage streams combined as Q = V + A - mean_a A, which makes V identifiable.
    """

    def __init__(self, in_features: int, hidden: int, n_actions: int, dueling: bool) -> None:
        super().__init__()
        self.dueling = dueling
        self.advantage = _stream(in_features, hidden, n_actions)
        self.value = _stream(in_features, hidden, 1) if dueling else None

    def forward(self, features: Tensor) -> tuple[Tensor, Tensor | None]:
        advantage = self.advantage(features)
        if self.value is None:
            return advantage, None
        value = self.value(features).squeeze(-1)
        return dueling_q(value, advantage), value


def dueling_q(value: Tensor, advantage: Tensor) -> Tensor:
    """Q(s, a) = V(s) + A(s, a) - mean_a' A(s, a') (Wang et al. 2016, eq. 9)."""
    return value.unsqueeze(-1) + advantage - advantage.mean(dim=-1, keepdim=True)


def _stream(in_features: int, hidden: int, out: int) -> nn.Sequential:
    return nn.Sequential(
        init_layer(nn.Linear(in_features, hidden)), nn.ReLU(), init_layer(nn.Linear(hidden, out), gain=OUTPUT_GAIN)
    )


class _ScaledInput(nn.Module):
    """Base: converts the raw observation to float and scales it (1/255 for Atari pixels)."""

    def __init__(self, obs_scale: float) -> None:
        super().__init__()
        self.obs_scale = float(obs_scale)
        self.channels_last = False
        """Feed convolutions NHWC images (see use_channels_last)."""

    def scale(self, x: Tensor) -> Tensor:
        x = x.float()
        if self.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return x * self.obs_scale if self.obs_scale != 1.0 else x


def use_channels_last(network: nn.Module) -> nn.Module:
    """Store conv weights and feed inputs channels-last (NHWC), in place; returns the network.

    On a CPU oneDNN's convolutions run NHWC natively: a batch-32 Nature-CNN update takes ~20% less time
    (16 ms instead of 20 ms on 2 cores). Networks without convolutions are left alone.
    """
    if isinstance(network, _ScaledInput) and any(isinstance(m, nn.Conv2d) for m in network.modules()):
        network.to(memory_format=torch.channels_last)
        network.channels_last = True
    return network


class MLPQNetwork(_ScaledInput):
    """Flatten the observation, subtract a reference observation, one hidden ReLU layer, then the Q head.

    The reference (a buffer, saved with the weights) starts at zero and is set once, by `center_inputs`, to
    the mean observation of the first training batch: inputs should be centred (LeCun et al. 1998,
    "Efficient BackProp"). It matters on a gridworld, where the wall, goal and lava planes are the same in
    every observation: uncentred, the hundred-odd wall inputs give each hidden unit a constant about ten
    times larger than the agent's one-hot position, so about half the ReLUs are dead for every state and
    the rest barely tell positions apart (the maze went from unsolved in 50k steps to solved in 15k).
    """

    def __init__(self, obs_shape: tuple[int, ...], n_actions: int, obs_scale: float, hidden: int,
                 dueling: bool) -> None:
        super().__init__(obs_scale)
        in_features = math.prod(obs_shape)
        self.register_buffer("input_reference", torch.zeros(in_features))
        self.body = nn.Sequential(init_layer(nn.Linear(in_features, hidden)), nn.ReLU())
        self.head = QHead(hidden, hidden, n_actions, dueling)

    def forward(self, x: Tensor) -> QOutput:
        q, value = self.head(self.body(self.scale(x).flatten(1) - self.input_reference))
        return QOutput(q, value, None)

    @torch.no_grad()
    def center_inputs(self, observations: Tensor) -> None:
        """Make the mean of `observations` (a batch of raw observations) the reference subtracted from inputs."""
        self.input_reference.copy_(self.scale(observations).flatten(1).mean(dim=0))


def conv_trunk(obs_shape: tuple[int, ...], small_channels: Sequence[int] = (32, 32)) -> nn.Sequential:
    """Convolutional feature extractor (B, C, H, W) -> (B, channels, h, w).

    Pixels (both sides >= 36): the Nature CNN, 32 8x8/4, 64 4x4/2, 64 3x3/1 (Mnih et al. 2015),
    84x84 -> 7x7. Small grids: 3x3 stride-1 padded convs of `small_channels` that keep one feature
    vector per cell (a 3x3 neighbourhood per layer is all a cell needs to see its walls).
    """
    in_channels, height, width = obs_shape[0], obs_shape[-2], obs_shape[-1]
    if min(height, width) >= NATURE_MIN_PIXELS:
        layers = [nn.Conv2d(in_channels, 32, 8, stride=4), nn.Conv2d(32, 64, 4, stride=2),
                  nn.Conv2d(64, 64, 3)]
    else:
        sizes = [in_channels, *small_channels]
        layers = [nn.Conv2d(a, b, 3, padding=1) for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
    modules: list[nn.Module] = []
    for layer in layers:
        modules += [init_layer(layer), nn.ReLU()]
    return nn.Sequential(*modules)


def trunk_output_shape(trunk: nn.Module, obs_shape: tuple[int, ...]) -> tuple[int, int, int]:
    """(channels, h, w) the trunk produces for one observation, found by a dry run."""
    with torch.no_grad():
        out = trunk(torch.zeros(1, *obs_shape))
    return int(out.shape[1]), int(out.shape[2]), int(out.shape[3])


class CNNQNetwork(_ScaledInput):
    """Conv trunk, flatten, Q head: the Nature DQN for pixels, a padded 3x3 trunk for gridworlds."""

    def __init__(self, obs_shape: tuple[int, ...], n_actions: int, obs_scale: float, hidden: int,
                 dueling: bool) -> None:
        super().__init__(obs_scale)
        self.trunk = conv_trunk(obs_shape, CNN_SMALL_CHANNELS)
        channels, height, width = trunk_output_shape(self.trunk, obs_shape)
        self.head = QHead(channels * height * width, hidden, n_actions, dueling)

    def forward(self, x: Tensor) -> QOutput:
        q, value = self.head(self.trunk(self.scale(x)).flatten(1))
        return QOutput(q, value, None)


class MultiHeadAttention(nn.Module):
    """softmax(Q K^T / sqrt(d_k)) V over several heads (Vaswani et al. 2017, eqs. 1-2), weights returned."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.head_dim = dim // heads
        self.query, self.key, self.value, self.out = (nn.Linear(dim, dim) for _ in range(4))
        for layer in (self.query, self.key, self.value, self.out):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, queries: Tensor, keys: Tensor,
                need_weights: bool = True) -> tuple[Tensor, Tensor | None]:
        """(B, Lq, D), (B, Lk, D) -> output (B, Lq, D) and weights (B, heads, Lq, Lk) (None if not needed).

        Without need_weights the same product runs as PyTorch's fused scaled_dot_product_attention,
        which on a CPU is faster and lighter for the 100-200 tokens of a gridworld.
        """
        q = self._split(self.query(queries))
        k = self._split(self.key(keys))
        v = self._split(self.value(keys))
        if need_weights:
            weights = torch.softmax((q / math.sqrt(self.head_dim)) @ k.transpose(-2, -1), dim=-1)
            mixed = weights @ v
        else:
            weights, mixed = None, nn.functional.scaled_dot_product_attention(q, k, v)
        return self.out(mixed.transpose(1, 2).flatten(2)), weights

    def _split(self, x: Tensor) -> Tensor:
        batch, length, _ = x.shape
        return x.view(batch, length, self.heads, self.head_dim).transpose(1, 2)


class EncoderBlock(nn.Module):
    """One pre-norm transformer encoder layer: x + MHSA(LN x), then x + FFN(LN x) (Xiong et al. 2020)."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attention = MultiHeadAttention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.ffn = nn.Sequential(init_layer(nn.Linear(dim, FFN_RATIO * dim)), nn.ReLU(),
                                 init_layer(nn.Linear(FFN_RATIO * dim, dim), gain=OUTPUT_GAIN))

    def forward(self, tokens: Tensor, need_weights: bool = False) -> tuple[Tensor, Tensor | None]:
        normed = self.norm1(tokens)
        attended, weights = self.attention(normed, normed, need_weights)
        tokens = tokens + attended
        return tokens + self.ffn(self.norm2(tokens)), weights


def sinusoidal_2d(height: int, width: int, dim: int) -> Tensor:
    """(height * width, dim) 2-D position codes: half the channels encode the row, half the column.

    The 1-D sinusoids of Vaswani et al. (2017) applied per axis, as in DETR (Carion et al. 2020).
    """
    quarter = dim // 4
    freqs = torch.exp(-math.log(10_000.0) * torch.arange(quarter, dtype=torch.float32) / max(quarter, 1))
    rows = torch.arange(height, dtype=torch.float32)[:, None] * freqs
    cols = torch.arange(width, dtype=torch.float32)[:, None] * freqs
    row_code = torch.cat([rows.sin(), rows.cos()], dim=1)
    col_code = torch.cat([cols.sin(), cols.cos()], dim=1)
    code = torch.cat([row_code[:, None, :].expand(height, width, -1),
                      col_code[None, :, :].expand(height, width, -1)], dim=2)
    code = code.reshape(height * width, -1)
    return nn.functional.pad(code, (0, dim - code.shape[1]))


class AttentionQNetwork(_ScaledInput):
    """Conv trunk -> one token per spatial position (per cell on gridworlds) + 2-D position embedding ->
    a transformer encoder block -> a learned query token attending over the tokens -> dueling head.

    The position embedding is learned, one vector per position, initialised with 2-D sinusoids: on a
    gridworld it acts like a per-cell table, which makes the agent's cell easy to value.
    The query token's attention over the grid is what the window draws: where the agent "looks" when
    valuing the state. The design follows the attention read-out of Zambaldi et al. (2019, "Deep RL with
    relational inductive biases") and Mott et al. (2019, "Towards interpretable RL using attention
    augmented agents"), reduced to one block.

    On gridworlds (small inputs, channel 0 = walls) wall cells are dropped from the token set: a wall can
    never hold the agent, a goal or lava, and each free cell's 3x3 conv features already see the walls
    around it. On a 15x15 maze that keeps 98 of 225 tokens, a 5x cheaper self-attention on a CPU; wall
    cells get attention weight 0 in the map.
    """

    def __init__(self, obs_shape: tuple[int, ...], n_actions: int, obs_scale: float, hidden: int, dim: int,
                 heads: int) -> None:
        super().__init__(obs_scale)
        self.trunk = conv_trunk(obs_shape, (dim,))
        channels, self.grid_h, self.grid_w = trunk_output_shape(self.trunk, obs_shape)
        self.embed = nn.Linear(channels, dim) if channels != dim else nn.Identity()
        if isinstance(self.embed, nn.Linear):
            nn.init.xavier_uniform_(self.embed.weight)
            nn.init.zeros_(self.embed.bias)
        self.position = nn.Parameter(sinusoidal_2d(self.grid_h, self.grid_w, dim))
        self.skip_walls = min(obs_shape[-2], obs_shape[-1]) < NATURE_MIN_PIXELS
        self.encoder = EncoderBlock(dim, heads)
        self.query_token = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        self.query_norm = nn.LayerNorm(dim)
        self.readout = MultiHeadAttention(dim, heads)
        self.out_norm = nn.LayerNorm(dim)
        self.head = QHead(dim, hidden, n_actions, dueling=True)

    def forward(self, x: Tensor) -> QOutput:
        features = self.trunk(self.scale(x))
        tokens = self.embed(features.flatten(2).transpose(1, 2)) + self.position
        cells = self._free_cells(x) if self.skip_walls else None
        if cells is not None:
            tokens = tokens[:, cells]
        tokens, _ = self.encoder(tokens)
        query = self.query_token.expand(tokens.shape[0], -1, -1)
        pooled, weights = self.readout(query, self.query_norm(tokens))
        q, value = self.head(self.out_norm(query + pooled).squeeze(1))
        weights = weights.squeeze(2)
        if cells is not None:
            weights = weights.new_zeros(*weights.shape[:-1], self.grid_h * self.grid_w).index_copy(-1, cells, weights)
        return QOutput(q, value, weights.unflatten(-1, (self.grid_h, self.grid_w)))

    def _free_cells(self, x: Tensor) -> Tensor:
        """Indices of the cells that are not a wall in at least one observation of the batch."""
        return (x[:, 0] == 0).flatten(1).any(dim=0).nonzero().squeeze(1)
