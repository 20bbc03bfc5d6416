"""Training loop: accuracy on digits, masks stay zero, determinism, hooks and bad input."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn.utils import prune

from prunegraph.errors import UnknownNameError, ValidationError
from prunegraph.loader.data import DatasetSplit, load_dataset
from prunegraph.loader.models import build_model
from prunegraph.loader.training import (
    TrainingSettings,
    TrainResult,
    accuracy_drop,
    evaluate,
    train,
)


@pytest.fixture(scope="module")
def digits() -> DatasetSplit:
    return load_dataset("digits", seed=0)


def _lenet(seed: int = 0) -> Any:  # Any: tests reach into submodules
    return build_model("lenet5", input_shape=(1, 8, 8), num_classes=10, seed=seed)


def _random_masks(model: nn.Module, density: float, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        name: rng.random(tuple(p.shape)) < density
        for name, p in model.named_parameters()
        if name.endswith("weight")
    }


def test_dense_lenet5_learns_digits(digits: DatasetSplit) -> None:
    model = _lenet()
    result = train(model, digits.train, epochs=5, lr=0.05, seed=0)
    assert isinstance(result, TrainResult)
    assert result.epochs == 5 and len(result.train_loss) == 5
    assert result.steps == 5 * int(np.ceil(len(digits.train) / 64))
    assert result.train_loss[-1] < result.train_loss[0] / 5
    accuracy = evaluate(model, digits.test)
    assert accuracy > 0.9
    assert result.final_train_acc > 0.9
    assert result.seconds < 60


@pytest.mark.parametrize(("optimizer", "lr"), [("sgd", 0.05), ("adam", 3e-3)])
def test_masked_weights_stay_exactly_zero(digits: DatasetSplit, optimizer: str, lr: float) -> None:
    model = _lenet()
    masks = _random_masks(model, 0.4)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    train(model, digits.train, epochs=2, lr=lr, optimizer=optimizer, weight_decay=5e-4, masks=masks)
    for name, param in model.named_parameters():
        if name in masks:
            values = param.detach().numpy()
            assert np.all(values[~masks[name]] == 0.0), name
            # kept weights did train
            changed = values[masks[name]] != before[name].numpy()[masks[name]]
            assert changed.mean() > 0.5, name
    assert evaluate(model, digits.test) > 0.5


def test_same_seed_same_result_and_different_seed_differs(digits: DatasetSplit) -> None:
    def run(seed: int) -> tuple[float, Any]:
        model = _lenet(seed=0)
        train(model, digits.train, epochs=2, lr=0.05, seed=seed)
        return evaluate(model, digits.test), model

    acc_a, model_a = run(1)
    acc_b, model_b = run(1)
    _, model_c = run(2)
    assert acc_a == acc_b
    for (_, pa), (_, pb) in zip(
        model_a.named_parameters(), model_b.named_parameters(), strict=True
    ):
        assert torch.equal(pa, pb)
    assert not torch.equal(model_a.features[0].weight, model_c.features[0].weight)


def test_step_hook_sees_every_step_and_may_replace_masks(digits: DatasetSplit) -> None:
    model = _lenet()
    masks = _random_masks(model, 0.5)
    first = "features.0.weight"
    steps: list[int] = []

    def hook(m: nn.Module, step: int) -> None:
        steps.append(step)
        if step == 3:  # dynamic sparse training style: swap in a new mask object
            masks[first] = np.zeros_like(masks[first])

    result = train(model, digits.train, epochs=1, lr=0.05, masks=masks, step_hook=hook)
    assert steps == list(range(1, result.steps + 1))
    assert torch.count_nonzero(model.features[0].weight) == 0


def test_in_place_mask_edits_are_seen(digits: DatasetSplit) -> None:
    model = _lenet()
    masks = _random_masks(model, 1.0)
    target = "classifier.1.weight"

    def hook(m: nn.Module, step: int) -> None:
        if step == 1:
            masks[target][:, ::2] = False

    train(model, digits.train, epochs=1, lr=0.05, masks=masks, step_hook=hook)
    weight = model.classifier[1].weight.detach().numpy()
    assert np.all(weight[:, ::2] == 0) and np.all(weight[:, 1::2] != 0)


def test_torch_prune_reparametrisation(digits: DatasetSplit) -> None:
    model = _lenet()
    prune.random_unstructured(model.features[0], name="weight", amount=0.5)
    mask = model.features[0].weight_mask.numpy().astype(bool)
    train(model, digits.train, epochs=1, lr=0.05, masks={"features.0.weight": mask})
    assert np.all(model.features[0].weight_orig.detach().numpy()[~mask] == 0)
    assert np.all(model.features[0].weight.detach().numpy()[~mask] == 0)


def test_schedules_and_adam_run(digits: DatasetSplit) -> None:
    finals = {}
    for schedule in ("none", "cosine", "step", None):
        model = _lenet()
        result = train(model, digits.train, epochs=2, lr=0.05, schedule=schedule)
        assert all(np.isfinite(result.train_loss))
        finals[schedule] = result.train_loss[-1]
    assert finals["none"] == finals[None]
    assert finals["cosine"] != finals["none"] and finals["step"] != finals["none"]


def test_dagnet_resource_loss_shrinks_edges() -> None:
    data = load_dataset("digits", seed=0)
    strengths = {}
    for weight in (0.0, 0.5):
        model = build_model(
            "dagnet", input_shape=(1, 8, 8), num_classes=10, seed=0, n_nodes=6, channels=4
        )
        train(model, data.train, epochs=1, lr=0.05, resource_weight=weight)
        strengths[weight] = model.edge_strength().mean()
    assert strengths[0.5] < strengths[0.0]


def test_evaluate_restores_mode_and_counts(digits: DatasetSplit) -> None:
    model = _lenet().train()
    acc = evaluate(model, digits.test, batch_size=7)
    assert model.training
    assert 0.0 <= acc <= 1.0
    assert acc * len(digits.test) == pytest.approx(round(acc * len(digits.test)))


def test_accuracy_drop() -> None:
    assert accuracy_drop(0.9, 0.45) == pytest.approx(0.5)
    assert accuracy_drop(0.8, 0.88) == pytest.approx(-0.1)
    assert accuracy_drop(1, 0) == 1.0


@pytest.mark.parametrize(
    ("dense", "sparse", "name"),
    [(0.0, 0.5, "acc_dense"), (1.2, 0.5, "acc_dense"), (float("nan"), 0.5, "acc_dense"),
     (0.9, -0.1, "acc_sparse"), (0.9, True, "acc_sparse"), ("0.9", 0.5, "acc_dense")],
)  # fmt: skip
def test_accuracy_drop_validation(dense: object, sparse: object, name: str) -> None:
    with pytest.raises(ValidationError, match=name):
        accuracy_drop(dense, sparse)


# ---------------------------------------------------------------- bad input
def test_unknown_optimizer_and_schedule(digits: DatasetSplit) -> None:
    with pytest.raises(UnknownNameError, match="Did you mean 'sgd'"):
        train(_lenet(), digits.train, epochs=1, lr=0.1, optimizer="sdg")
    with pytest.raises(UnknownNameError, match="Did you mean 'cosine'"):
        train(_lenet(), digits.train, epochs=1, lr=0.1, schedule="cosin")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"epochs": 0}, "epochs"), ({"lr": -1.0}, "lr"), ({"lr": float("inf")}, "lr"),
     ({"batch_size": 0}, "batch_size"), ({"momentum": 1.0}, "momentum"),
     ({"weight_decay": -1.0}, "weight_decay"), ({"seed": "a"}, "seed"),
     ({"resource_weight": 0.1}, "resource_loss"), ({"step_hook": 3}, "step_hook")],
)  # fmt: skip
def test_bad_training_arguments(
    digits: DatasetSplit, kwargs: dict[str, object], message: str
) -> None:
    args: dict[str, object] = {"epochs": 1, "lr": 0.1, **kwargs}
    with pytest.raises(ValidationError, match=message):
        train(_lenet(), digits.train, **args)


def test_bad_data_and_masks(digits: DatasetSplit) -> None:
    with pytest.raises(ValidationError, match="DatasetSplit"):
        train(_lenet(), digits, epochs=1, lr=0.1)
    with pytest.raises(ValidationError, match="torch Dataset"):
        evaluate(_lenet(), [1, 2, 3])
    model = _lenet()
    with pytest.raises(ValidationError, match="matches no parameter"):
        train(model, digits.train, epochs=1, lr=0.1, masks={"nope.weight": np.ones(3, bool)})
    with pytest.raises(ValidationError, match="shape"):
        train(model, digits.train, epochs=1, lr=0.1, masks={"features.0.weight": np.ones(3, bool)})
    bad = np.full(tuple(model.features[0].weight.shape), 2)
    with pytest.raises(ValidationError, match="boolean"):
        train(model, digits.train, epochs=1, lr=0.1, masks={"features.0.weight": bad})


def test_divergence_is_reported(digits: DatasetSplit) -> None:
    model = build_model("mlp", input_shape=(1, 8, 8), num_classes=10, seed=0)
    with pytest.raises(ValidationError, match="diverged"):
        train(model, digits.train, epochs=3, lr=1e6, schedule="none")


# ------------------------------------------------------------------ TrainingSettings
def test_training_settings_are_the_keywords_of_train(digits: DatasetSplit) -> None:
    settings = TrainingSettings(epochs=2, lr=0.1, batch_size=32, schedule="none")
    kwargs = settings.train_kwargs()
    assert set(kwargs) == set(TrainingSettings.names())
    assert kwargs["epochs"] == 2 and kwargs["batch_size"] == 32 and kwargs["schedule"] == "none"
    a, b = _lenet(), _lenet()
    ra = train(a, digits.train, seed=3, **kwargs)
    rb = train(b, digits.train, seed=3, epochs=2, lr=0.1, batch_size=32, schedule=None)
    assert ra.steps == rb.steps and ra.train_loss == rb.train_loss


def test_training_settings_replace_validates() -> None:
    base = TrainingSettings()
    changed = base.replace(epochs=4, optimizer="adam")
    assert (changed.epochs, changed.optimizer, base.epochs) == (4, "adam", 1)
    with pytest.raises(ValidationError, match="Unknown training setting"):
        base.replace(epoch=4)
    with pytest.raises(ValidationError, match="'lr' parameter of TrainingSettings"):
        base.replace(lr=0.0)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [({"epochs": 0}, ValidationError), ({"batch_size": True}, ValidationError),
     ({"momentum": 1.0}, ValidationError), ({"weight_decay": -1e-4}, ValidationError),
     ({"optimizer": "sgdm"}, UnknownNameError), ({"schedule": "linear"}, UnknownNameError)],
)  # fmt: skip
def test_training_settings_reject_bad_values(kwargs: dict[str, Any], error: type) -> None:
    with pytest.raises(error):
        TrainingSettings(**kwargs)
