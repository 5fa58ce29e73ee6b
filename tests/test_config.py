"""Config defaults, override parsing and validation, and the epsilon schedule."""

from __future__ import annotations

import ast
import dataclasses
import inspect

import pytest

from agents import config as config_module
from agents.config import (
    DQNConfig,
    TabularConfig,
    apply_overrides,
    check_fits_env,
    dqn_config_for,
    linear_epsilon,
    tabular_config_for,
)
from agents.errors import ArcadeError, ConfigError


def test_atari_defaults_are_the_nature_values() -> None:
    cfg = dqn_config_for("atari", network="cnn")
    assert (cfg.buffer_size, cfg.batch_size, cfg.gamma) == (1_000_000, 32, 0.99)
    assert (cfg.learning_starts, cfg.train_frequency, cfg.target_network_frequency) == (50_000, 4, 10_000)
    assert (cfg.start_e, cfg.end_e) == (1.0, 0.1)
    assert cfg.exploration_fraction * cfg.total_timesteps == 1_000_000
    assert cfg.loss == "huber" and not cfg.double and not cfg.dueling and cfg.hidden_dim == 512


def test_gridworld_defaults_fit_fifty_thousand_steps() -> None:
    cfg = dqn_config_for("gridworld")
    assert cfg.total_timesteps == 50_000
    assert cfg.learning_starts < cfg.exploration_fraction * cfg.total_timesteps < cfg.total_timesteps
    assert cfg.buffer_size >= cfg.batch_size


def test_exploring_starts_are_a_gridworld_default_and_refused_for_atari() -> None:
    assert dqn_config_for("gridworld").exploring_starts
    assert not dqn_config_for("atari").exploring_starts
    assert not tabular_config_for("gridworld").exploring_starts
    check_fits_env(dqn_config_for("gridworld"), "gridworld")
    with pytest.raises(ConfigError, match="exploring_starts needs a gridworld"):
        check_fits_env(dqn_config_for("atari", exploring_starts=True), "atari")


def test_dqn_config_for_applies_keyword_overrides_and_rejects_unknown_ones() -> None:
    assert dqn_config_for("gridworld", network="mlp", double=False).network == "mlp"
    with pytest.raises(ConfigError, match="unknown config field 'lr'"):
        dqn_config_for("atari", lr=1.0)
    with pytest.raises(ConfigError, match="unknown environment kind"):
        dqn_config_for("mujoco")


def test_every_field_has_a_one_line_docstring() -> None:
    for cls in (DQNConfig, TabularConfig):
        tree = ast.parse(inspect.getsource(cls))
        body = tree.body[0].body
        documented = {
            node.target.id
            for node, after in zip(body, body[1:], strict=False)
            if isinstance(node, ast.AnnAssign) and isinstance(after, ast.Expr)
            and isinstance(after.value.value, str)
        }
        assert documented == {f.name for f in dataclasses.fields(cls)}


@pytest.mark.parametrize(
    ("assignment", "field", "expected"),
    [
        ("learning_rate=3e-4", "learning_rate", 3e-4),
        ("double=false", "double", False),
        ("double=YES", "double", True),
        ("dueling=1", "dueling", True),
        ("dueling=off", "dueling", False),
        ("buffer_size=1e5", "buffer_size", 100_000),
        ("buffer_size=1_000", "buffer_size", 1_000),
        ("batch_size=64", "batch_size", 64),
        ("network=cnn", "network", "cnn"),
        ("loss = mse", "loss", "mse"),
        ("max_grad_norm=inf", "max_grad_norm", float("inf")),
        ("gamma=1", "gamma", 1.0),
        ("target-network-frequency=250", "target_network_frequency", 250),
    ],
)
def test_apply_overrides_parses_by_field_type(assignment: str, field: str, expected: object) -> None:
    base = dqn_config_for("gridworld")
    cfg = apply_overrides(base, [assignment])
    value = getattr(cfg, field)
    assert value == expected and type(value) is type(expected)
    assert base == dqn_config_for("gridworld")


def test_apply_overrides_with_no_assignments_returns_the_config() -> None:
    cfg = dqn_config_for("atari")
    assert apply_overrides(cfg, []) is cfg


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        ("lr=1e-3", "unknown config field 'lr'"),
        ("learning_rat=1e-3", "did you mean learning_rate"),
        ("double=maybe", "bad value for double"),
        ("batch_size=1.5", "bad value for batch_size"),
        ("batch_size=many", "bad value for batch_size"),
        ("learning_rate=fast", "bad value for learning_rate"),
        ("network=rnn", "choose mlp, cnn, attention"),
        ("loss=l1", "choose huber, mse"),
        ("gamma=1.5", r"outside \[0, 1\]"),
        ("buffer_size=0", "must be positive"),
        ("learning_starts=-1", "must be >= 0"),
        ("attention_dim=30", "multiple of 2 \\* attention_heads"),
        ("tau=0", "tau"),
        ("double", "not FIELD=VALUE"),
    ],
)
def test_apply_overrides_rejects_bad_input_with_one_line(assignment: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        apply_overrides(dqn_config_for("gridworld"), [assignment])
    assert "\n" not in str(caught.value)
    assert isinstance(caught.value, ArcadeError)


def test_unknown_field_message_lists_the_valid_fields() -> None:
    with pytest.raises(ConfigError) as caught:
        apply_overrides(dqn_config_for("gridworld"), ["nope=1"])
    for field in ("learning_rate", "buffer_size", "target_network_frequency", "attention_heads"):
        assert field in str(caught.value)


def test_constructor_validates_types_and_widens_ints() -> None:
    assert DQNConfig(learning_rate=1).learning_rate == 1.0
    assert isinstance(DQNConfig(buffer_size=1e4).buffer_size, int)
    with pytest.raises(ConfigError, match="batch_size"):
        DQNConfig(batch_size=True)
    with pytest.raises(ConfigError, match="double"):
        DQNConfig(double="yes")
    with pytest.raises(ConfigError, match="gamma"):
        DQNConfig(gamma=float("nan"))


def test_configs_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        dqn_config_for("atari").gamma = 0.5  # type: ignore[misc]


def test_tabular_config() -> None:
    cfg = apply_overrides(tabular_config_for("gridworld"), ["learning_rate=0.25", "total_timesteps=2e4"])
    assert (cfg.learning_rate, cfg.total_timesteps) == (0.25, 20_000)
    with pytest.raises(ConfigError, match="gridworld"):
        tabular_config_for("atari")
    with pytest.raises(ConfigError, match="valid fields: learning_rate"):
        apply_overrides(cfg, ["network=mlp"])
    with pytest.raises(ConfigError, match="above 1"):
        TabularConfig(learning_rate=1.5)


@pytest.mark.parametrize(
    ("step", "expected"),
    [(0, 1.0), (250, 0.775), (500, 0.55), (1000, 0.1), (5000, 0.1), (-3, 1.0)],
)
def test_linear_epsilon_table(step: int, expected: float) -> None:
    assert linear_epsilon(step, 1.0, 0.1, 1000) == pytest.approx(expected)


def test_linear_epsilon_without_duration_is_final_value() -> None:
    assert linear_epsilon(0, 1.0, 0.05, 0) == 0.05


def test_parse_value_is_public_for_the_cli() -> None:
    assert config_module.parse_value("x", int, "2e3") == 2000


def test_the_fast_preset_sets_its_recipe_and_overrides_still_win():
    from agents.config import PRESETS, dqn_config_for

    fast = dqn_config_for("atari", "fast")
    assert (fast.network, fast.double, fast.dueling, fast.n_step) == ("cnn", True, True, 3)
    assert (fast.buffer_size, fast.train_frequency, fast.target_network_frequency) == (100_000, 2, 2_000)
    assert dqn_config_for("atari", "fast", n_step=5).n_step == 5
    assert dqn_config_for("atari").n_step == 1  # the Nature defaults are untouched
    assert set(PRESETS) == {"fast"}


@pytest.mark.parametrize(("kind", "preset", "message"), [
    ("atari", "turbo", "unknown preset 'turbo' \\(choose fast\\)"),
    ("gridworld", "fast", "preset 'fast' is for atari games, not a gridworld"),
])
def test_a_preset_that_does_not_apply_is_a_one_line_error(kind, preset, message):
    from agents.config import dqn_config_for

    with pytest.raises(ConfigError, match=message):
        dqn_config_for(kind, preset)


def test_resuming_with_the_same_preset_is_accepted_and_a_changed_one_refused():
    import argparse

    from agents.config import dqn_config_for
    from app.headless import check_resume_flags

    class Saved:
        kind = "dqn"
        config = dqn_config_for("atari", "fast")

    args = argparse.Namespace(env=None, agent=None, net=None, double=None, dueling=None, overrides=[], preset="fast")
    check_resume_flags(args, Saved(), "ALE/Pong-v5")
    Saved.config = dqn_config_for("atari")
    with pytest.raises(ConfigError, match="--preset fast"):
        check_resume_flags(args, Saved(), "ALE/Pong-v5")
