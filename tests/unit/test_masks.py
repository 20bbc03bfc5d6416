"""Masks as data: prunable parameters, npz I/O, apply/remove, checkpoints, density report."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from prunegraph.errors import ValidationError
from prunegraph.loader.masks import (
    apply_masks,
    density_report,
    load_masks,
    masks_from_checkpoint,
    masks_from_model,
    prunable_parameters,
    remove_masks,
    save_masks,
    sparsity,
    validate_masks,
)


def small_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(4 * 4 * 4, 5),
    )


def half_masks(model: nn.Module, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {n: rng.random(tuple(p.shape)) < 0.5 for n, p in prunable_parameters(model).items()}


def test_prunable_parameters_are_conv_and_linear_weights_only() -> None:
    model = small_net()
    params = prunable_parameters(model)
    assert list(params) == ["0.weight", "4.weight"]
    assert params["0.weight"] is model[0].weight
    assert all("bias" not in n for n in params)
    bn_params = {id(p) for p in model[1].parameters()}
    assert not bn_params & {id(p) for p in params.values()}


def test_dagnet_edge_scalars_are_not_prunable() -> None:
    from prunegraph.loader.models import build_model

    model = build_model("dagnet", input_shape=(3, 8, 8), num_classes=4)
    prunable = {id(p) for p in prunable_parameters(model).values()}
    modules = dict(model.named_modules())
    for name, p in model.named_parameters():
        owner = modules[name.rsplit(".", 1)[0]] if "." in name else model
        is_weight = name.endswith(".weight") and isinstance(owner, (nn.Conv2d, nn.Linear))
        assert (id(p) in prunable) == is_weight, name


def test_save_load_roundtrip(tmp_path) -> None:
    model = small_net()
    masks = half_masks(model)
    path = save_masks(tmp_path / "m.npz", masks)
    loaded = load_masks(path, model)
    assert list(loaded) == list(masks)
    for name in masks:
        assert loaded[name].dtype == np.bool_
        np.testing.assert_array_equal(loaded[name], masks[name])


def test_load_rejects_bad_files(tmp_path) -> None:
    with pytest.raises(ValidationError, match="does not exist"):
        load_masks(tmp_path / "none.npz")
    junk = tmp_path / "junk.npz"
    junk.write_text("not a zip")
    with pytest.raises(ValidationError, match="Cannot read masks"):
        load_masks(junk)
    np.savez(tmp_path / "bad.npz", **{"0.weight": np.full((4, 2, 3, 3), 2.0)})
    with pytest.raises(ValidationError, match="must be boolean"):
        load_masks(tmp_path / "bad.npz")
    other = {"0.weight": np.ones((3, 3), dtype=bool)}
    save_masks(tmp_path / "shape.npz", other)
    with pytest.raises(ValidationError, match="has shape"):
        load_masks(tmp_path / "shape.npz", small_net())
    save_masks(tmp_path / "name.npz", {"fc.weight": np.ones((2, 2), dtype=bool)})
    with pytest.raises(ValidationError, match=r"fc\.weight"):
        load_masks(tmp_path / "name.npz", small_net())


def test_apply_zeroes_weights_and_is_idempotent() -> None:
    model = small_net()
    masks = half_masks(model)
    apply_masks(model, masks)
    assert not model[0].weight[torch.from_numpy(~masks["0.weight"])].any()
    got = masks_from_model(model)
    np.testing.assert_array_equal(got["4.weight"], masks["4.weight"])
    # applying other masks replaces (does not AND) the previous ones
    other = half_masks(model, seed=1)
    apply_masks(model, other)
    np.testing.assert_array_equal(masks_from_model(model)["0.weight"], other["0.weight"])
    x = torch.randn(2, 2, 4, 4)
    model.eval()
    expected = model[0].weight_orig.detach() * torch.from_numpy(other["0.weight"]).float()
    out = model[0](x)
    assert torch.allclose(out, nn.functional.conv2d(x, expected, model[0].bias, padding=1))


def test_remove_makes_masks_permanent() -> None:
    model = small_net()
    masks = half_masks(model)
    apply_masks(model, masks)
    remove_masks(model)
    names = dict(model.named_parameters())
    assert "0.weight" in names and "0.weight_orig" not in names
    assert not hasattr(model[0], "weight_mask")
    # exact zeros now define the masks
    got = masks_from_model(model)
    for name in masks:
        assert not (got[name] & ~masks[name]).any()


def test_masks_from_checkpoint_with_buffers_zeros_and_path(tmp_path) -> None:
    model = small_net()
    masks = half_masks(model)
    pruned = small_net()
    apply_masks(pruned, masks)
    from_buffers = masks_from_checkpoint(pruned.state_dict(), small_net())
    for name in masks:
        np.testing.assert_array_equal(from_buffers[name], masks[name])
    remove_masks(pruned)
    torch.save({"state_dict": pruned.state_dict()}, tmp_path / "ck.pt")
    from_zeros = masks_from_checkpoint(tmp_path / "ck.pt", small_net())
    for name in masks:
        np.testing.assert_array_equal(from_zeros[name], masks[name])


def test_masks_from_checkpoint_mismatched_keys_are_listed() -> None:
    model = small_net()
    state = model.state_dict()
    state["classifier.weight"] = torch.zeros(3, 3)
    with pytest.raises(ValidationError, match=r"keys not in the model: \['classifier.weight'\]"):
        masks_from_checkpoint(state, small_net())
    state = small_net().state_dict()
    del state["4.weight"]
    with pytest.raises(ValidationError, match=r"missing from the checkpoint: \['4.weight'\]"):
        masks_from_checkpoint(state, small_net())
    with pytest.raises(ValidationError, match="does not exist"):
        masks_from_checkpoint("/nonexistent/ck.pt", small_net())


def test_density_report_and_sparsity() -> None:
    masks = {
        "a.weight": np.array([[True, False], [False, False]]),
        "b.weight": np.ones(4, dtype=bool),
    }
    report = density_report(masks)
    assert list(report.columns) == ["layer", "shape", "n_weights", "n_unmasked", "density"]
    assert report["n_unmasked"].tolist() == [1, 4]
    assert report["density"].tolist() == [0.25, 1.0]
    assert report["shape"].tolist() == [(2, 2), (4,)]
    assert sparsity(masks) == pytest.approx(1 - 5 / 8)


def test_validate_masks_rejects_non_binary() -> None:
    with pytest.raises(ValidationError, match="must be boolean"):
        validate_masks({"a": np.array([0.5, 1.0])})
    with pytest.raises(ValidationError, match="dict of boolean arrays"):
        validate_masks([np.ones(2)])  # type: ignore[arg-type]
    assert validate_masks({"a": np.array([0, 1])})["a"].dtype == np.bool_


# ----------------------------------------------------------------------------- one meaning everywhere
def _half_and_point_five(model: nn.Module) -> dict[str, np.ndarray]:
    masks: dict[str, np.ndarray] = {n: m.astype(float) for n, m in half_masks(model).items()}
    masks["0.weight"][0, 0, 0, 0] = 0.5
    return masks


def test_a_fractional_mask_value_is_refused_on_every_path(tmp_path) -> None:
    from prunegraph.errors import EncodingError
    from prunegraph.loader.encoding import encode

    model = small_net().eval()
    masks = _half_and_point_five(model)
    np.savez(tmp_path / "half.npz", **masks)
    pattern = r"Mask for '0\.weight' must be a boolean \(or 0/1\).*0\.5"
    with pytest.raises(EncodingError, match=pattern):
        encode(model, masks, (2, 4, 4))
    with pytest.raises(ValidationError, match=pattern):
        apply_masks(small_net(), masks)
    with pytest.raises(ValidationError, match=pattern):
        load_masks(tmp_path / "half.npz", small_net())
    with pytest.raises(ValidationError, match=r"neither 0 nor 1 \(e\.g\. nan\)"):
        validate_masks({"0.weight": np.array([1.0, np.nan])})


def test_a_missing_key_is_refused_unless_explicitly_dense(tmp_path) -> None:
    from prunegraph.errors import EncodingError
    from prunegraph.loader.encoding import encode

    model = small_net().eval()
    masks = half_masks(model)
    partial = {"0.weight": masks["0.weight"]}
    pattern = r"no entry for the prunable weight '4\.weight' of Sequential.*'dense'"
    with pytest.raises(EncodingError, match=pattern):
        encode(model, partial, (2, 4, 4))
    with pytest.raises(ValidationError, match=pattern):
        apply_masks(small_net(), partial)
    save_masks(tmp_path / "partial.npz", partial)
    with pytest.raises(ValidationError, match=pattern):
        load_masks(tmp_path / "partial.npz", small_net())
    # explicitly dense: the string "dense" (also in an .npz), or missing="dense"
    explicit = {**partial, "4.weight": "dense"}
    np.savez(tmp_path / "explicit.npz", **explicit)
    loaded = load_masks(tmp_path / "explicit.npz", small_net())
    assert loaded["4.weight"].all() and loaded["4.weight"].shape == (5, 64)
    full = encode(model, {**partial, "4.weight": np.ones((5, 64), bool)}, (2, 4, 4))
    assert encode(model, explicit, (2, 4, 4)).n_edges == full.n_edges
    applied = apply_masks(small_net(), partial, missing="dense")
    assert not hasattr(applied[4], "weight_mask")  # left as it was
    assert set(load_masks(tmp_path / "partial.npz", small_net(), missing="dense")) == {"0.weight"}
    with pytest.raises(ValidationError, match="only string a mask may be is 'dense'"):
        validate_masks({**partial, "4.weight": "sparse"}, small_net())
    with pytest.raises(ValidationError, match="missing must be one of"):
        validate_masks(partial, small_net(), missing="keep")


def test_extra_keys_are_named() -> None:
    model = small_net()
    masks = half_masks(model)
    with pytest.raises(ValidationError, match=r"'1\.weight', which is not the weight of a Conv"):
        validate_masks({**masks, "1.weight": np.ones(4, bool)}, model)
    with pytest.raises(ValidationError, match=r"unknown parameter '4\.wieght'.*'4\.weight'"):
        validate_masks({"0.weight": masks["0.weight"], "4.wieght": masks["4.weight"]}, model)


def test_cli_encode_refuses_a_partial_masks_file(tmp_path, capsys) -> None:
    from prunegraph.cli import main
    from prunegraph.loader.models import build_model

    model = build_model("mlp", input_shape=(1, 8, 8), num_classes=10)
    masks = half_masks(model)
    first = next(iter(masks))
    save_masks(tmp_path / "partial.npz", {first: masks[first]})
    argv = ["encode", "--model", "mlp", "--input-shape", "1,8,8", "--num-classes", "10"]
    code = main([*argv, "--masks", str(tmp_path / "partial.npz"), "--out", str(tmp_path / "g")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "no entry for the prunable weights" in err
    assert not list(tmp_path.glob("g*"))
