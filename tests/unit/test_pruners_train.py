"""Pruners that train: IMP with rewinding, SET and RigL (LeNet-5 on digits, short runs)."""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
import torch

from prunegraph.errors import ValidationError
from prunegraph.loader.masks import prunable_parameters
from prunegraph.loader.pruning import erk_densities, prune
from prunegraph.loader.pruning.core import apportion
from prunegraph.loader.pruning.core import n_keep as keep_count
from prunegraph.loader.pruning.dst import drop_and_grow, update_fraction


@functools.lru_cache(maxsize=1)
def digits():
    from prunegraph.loader.data import load_dataset

    return load_dataset("digits", seed=0)


def lenet(seed: int = 0):
    from prunegraph.loader.models import build_model

    torch.manual_seed(seed)
    split = digits()
    return build_model("lenet5", input_shape=split.input_shape, num_classes=split.num_classes)


def n_keep(masks) -> int:
    return sum(int(m.sum()) for m in masks.values())


def target(masks, s: float) -> int:
    return keep_count(sum(m.size for m in masks.values()), s)


def test_imp_three_rounds_on_lenet5_digits_rewinds_to_init() -> None:
    model = lenet()
    init = {n: p.detach().clone() for n, p in prunable_parameters(model).items()}
    masks = prune(model, "imp", 0.9, data=digits(), rounds=3, epochs=1, batch_size=128)
    assert n_keep(masks) == target(masks, 0.9)
    for name, p in prunable_parameters(model).items():
        kept = torch.from_numpy(masks[name])
        assert torch.equal(p.detach()[kept], init[name][kept])  # the ticket: initial weights
        assert not p.detach()[~kept].any()


def test_imp_prunes_by_trained_magnitude_not_initial_magnitude() -> None:
    model = lenet(1)
    one_shot = prune(model, "magnitude", 0.8)
    masks = prune(model, "imp", 0.8, data=digits(), rounds=1, epochs=2, batch_size=64)
    assert any(not np.array_equal(one_shot[n], masks[n]) for n in masks)


def test_imp_rewinds_to_an_early_iteration() -> None:
    model = lenet(2)
    init = {n: p.detach().clone() for n, p in prunable_parameters(model).items()}
    masks = prune(model, "imp", 0.6, data=digits(), rounds=1, epochs=1, rewind_step=3)
    assert n_keep(masks) == target(masks, 0.6)
    name = "features.0.weight"
    kept = torch.from_numpy(masks[name])
    assert not torch.equal(prunable_parameters(model)[name].detach()[kept], init[name][kept])
    with pytest.raises(ValidationError, match="rewind_step"):
        prune(lenet(), "imp", 0.6, data=digits(), rounds=1, epochs=1, rewind_step=10_000)


@pytest.mark.parametrize("s", [0.6, 0.98])
def test_imp_hits_target_at_both_sparsities(s: float) -> None:
    masks = prune(lenet(), "imp", s, data=digits(), rounds=2, epochs=1, batch_size=256)
    assert n_keep(masks) == target(masks, s)


@pytest.mark.parametrize("s", [0.6, 0.98])
@pytest.mark.parametrize("pruner", ["set", "rigl"])
def test_dst_keeps_erk_layer_counts_and_changes_topology(pruner: str, s: float) -> None:
    model = lenet()
    masks = prune(
        model, pruner, s, data=digits(), epochs=1, update_interval=2, batch_size=64, seed=4
    )
    assert n_keep(masks) == target(masks, s)
    shapes = [m.shape for m in masks.values()]
    sizes = np.array([int(np.prod(sh)) for sh in shapes])
    counts = apportion(sizes, erk_densities(shapes, 1 - s), target(masks, s))
    assert [int(m.sum()) for m in masks.values()] == counts.tolist()  # per-layer counts preserved
    # the initial ERK masks (same seed) differ from the final ones: connections were moved
    initial = prune(lenet(), "erk", s, seed=4)
    assert any(not np.array_equal(initial[n], masks[n]) for n in masks)
    for name, p in prunable_parameters(model).items():
        assert not p.detach()[torch.from_numpy(~masks[name])].any()


def test_drop_and_grow_rigl_regrows_largest_gradients() -> None:
    rng = np.random.default_rng(0)
    mask = np.array([True, True, True, True, False, False, False, False])
    magnitude = np.array([0.1, 0.5, 0.9, 0.05, 0, 0, 0, 0])
    grad = np.array([0, 0, 0, 0, 0.2, 0.8, 0.1, 0.7])
    moved = drop_and_grow(mask, magnitude, grad, 0.5, rng)
    assert moved == 2
    assert mask.tolist() == [False, True, True, False, False, True, False, True]


def test_drop_and_grow_set_regrows_randomly_elsewhere() -> None:
    rng = np.random.default_rng(1)
    mask = np.zeros(100, dtype=bool)
    mask[:50] = True
    magnitude = np.arange(100, dtype=float)
    drop_and_grow(mask, magnitude, None, 0.2, rng)
    assert mask.sum() == 50
    assert not mask[:10].any()  # the 10 smallest active were dropped and not regrown
    assert mask[10:50].all() and mask[50:].sum() == 10


def test_update_fraction_is_cosine_annealed() -> None:
    assert update_fraction(0, 100, 0.3) == pytest.approx(0.3)
    assert update_fraction(50, 100, 0.3) == pytest.approx(0.15)
    assert update_fraction(100, 100, 0.3) == pytest.approx(0.0, abs=1e-12)
    assert update_fraction(25, 100, 0.3) == pytest.approx(0.15 * (1 + math.cos(math.pi / 4)))


def test_dst_rejects_bad_options() -> None:
    with pytest.raises(ValidationError, match="drop_fraction"):
        prune(lenet(), "set", 0.9, data=digits(), drop_fraction=1.5)
    with pytest.raises(ValidationError, match="distribution"):
        prune(lenet(), "rigl", 0.9, data=digits(), distribution="gaussian")


@pytest.mark.parametrize("s", [0.6, 0.98])
def test_dsr_keeps_global_count_and_reallocates(s: float) -> None:
    model = lenet()
    masks = prune(
        model, "dsr", s, data=digits(), epochs=1, update_interval=2, initial_threshold=0.05, seed=2
    )
    assert n_keep(masks) == target(masks, s)
    initial = prune(lenet(), "random", s, seed=2)  # DSR starts uniform
    assert any(not np.array_equal(initial[n], masks[n]) for n in masks)
    for name, p in prunable_parameters(model).items():
        assert not p.detach()[torch.from_numpy(~masks[name])].any()


def test_dsr_reallocate_moves_weights_to_layers_with_survivors() -> None:
    from prunegraph.loader.pruning.dst import dsr_reallocate

    rng = np.random.default_rng(0)
    masks = {"a": np.ones(10, dtype=bool), "b": np.zeros(10, dtype=bool)}
    masks["b"][:5] = True
    magnitudes = {"a": np.linspace(0.0, 1.0, 10), "b": np.full(10, 0.01)}
    moved = dsr_reallocate(masks, magnitudes, 0.05, rng)
    # below H: a[0] (0.0) and the five active b weights (0.01)
    assert moved == 6
    assert masks["a"].sum() + masks["b"].sum() == 15
    # layer a keeps 9 survivors, b none: every regrown weight goes to a (capped by its free slots)
    assert masks["a"].sum() == 10 and masks["b"].sum() == 5


# --------------------------------------------------------------------------- modes and settings
def _record_training(monkeypatch) -> list[dict]:
    import prunegraph.loader.training as training

    calls: list[dict] = []

    def recording_train(model, train_data, **kwargs):
        calls.append(kwargs)
        return training.TrainResult()

    monkeypatch.setattr(training, "train", recording_train)
    return calls


def test_every_pruner_declares_a_mode_and_the_trainers_take_training_settings() -> None:
    from prunegraph.loader.pruning import PRUNERS
    from prunegraph.loader.pruning.core import MODES
    from prunegraph.loader.training import TrainingSettings

    modes = {name: PRUNERS.get(name).mode for name in PRUNERS}
    assert set(modes.values()) <= set(MODES)
    assert modes["imp"] == "rewind" and modes["set"] == modes["rigl"] == modes["dsr"] == "during"
    assert modes["magnitude"] == modes["magnitude_layer"] == "trained"
    assert modes["snip"] == modes["random"] == modes["ramanujan"] == "init"
    trainers = {name for name in PRUNERS if PRUNERS.get(name).trains}
    assert modes["resource"] == "during"
    assert trainers == {"imp", "set", "rigl", "dsr", "ramanujan", "resource"}
    for name in trainers:
        pruner = PRUNERS.get(name)
        own = pruner.own_defaults
        # no pruner re-declares the training keywords: they come from TrainingSettings
        assert not {"epochs", "lr", "momentum", "weight_decay", "optimizer"} & set(own)
        assert set(pruner.defaults) == set(own) | set(pruner.training_options)
        assert set(pruner.training_options) == set(TrainingSettings.names()) - set(own)
    assert PRUNERS.get("ramanujan").training_options == (
        "epochs", "lr", "optimizer", "momentum", "weight_decay", "schedule",
        "milestones", "augment", "device", "amp", "compile",
    )  # its own batch_size is the SNIP batch size  # fmt: skip
    assert not PRUNERS.get("snip").training_options


@pytest.mark.parametrize("pruner", ["imp", "set", "rigl", "dsr"])
def test_pruners_that_train_use_the_training_settings(pruner, monkeypatch) -> None:
    from prunegraph.loader.training import TrainingSettings

    calls = _record_training(monkeypatch)
    settings = TrainingSettings(
        epochs=2, lr=0.01, batch_size=32, optimizer="adam", momentum=0.5, weight_decay=1e-4
    )
    options = {"rounds": 1} if pruner == "imp" else {}
    prune(lenet(), pruner, 0.5, data=digits(), training=settings, **options)
    assert calls and all(
        {k: c[k] for k in TrainingSettings.names()} == settings.train_kwargs() for c in calls
    )
    # an option with a setting's name overrides it, for this call only
    calls.clear()
    prune(lenet(), pruner, 0.5, data=digits(), training=settings, epochs=3, **options)
    assert calls and all(c["epochs"] == 3 and c["lr"] == 0.01 for c in calls)


def test_training_settings_are_validated_by_prune() -> None:
    with pytest.raises(ValidationError, match="'training' parameter of prune"):
        prune(lenet(), "imp", 0.5, data=digits(), training={"epochs": 1})
    with pytest.raises(ValidationError, match="'epochs' parameter of TrainingSettings"):
        prune(lenet(), "set", 0.5, data=digits(), epochs=0)
    with pytest.raises(ValidationError, match="Unknown option"):
        prune(lenet(), "snip", 0.5, data=digits(), epochs=2)  # snip does not train


def test_a_pruner_says_which_models_it_applies_to() -> None:
    from prunegraph.loader.pruning import Pruner

    def func(ctx):
        raise AssertionError("not called")

    anywhere = Pruner("toy", "random", func, False, "toy", "test", mode="init")
    only_mlp = Pruner("toy", "random", func, False, "toy", "test", mode="init", models=("mlp",))
    assert anywhere.applies_to("lenet5") is None and only_mlp.applies_to("mlp") is None
    assert only_mlp.applies_to("lenet5") == "pruner 'toy' applies to the models mlp only"
