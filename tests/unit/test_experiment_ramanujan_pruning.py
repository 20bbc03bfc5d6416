"""The Ramanujan-preserving pruning report section on planted feature tables."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from prunegraph.analysis.experiments import ramanujan_pruning as rp
from prunegraph.analysis.features import FeatureTable
from prunegraph.analysis.report import EXTRA_SECTIONS, write_report
from prunegraph.analysis.report import _Report as _FullReport

LAYERS = ("l0", "l1", "l2")
#: planted accuracy gain of ramanujan(base) over base at sparsity 0.99
EFFECTS = {"imp": 0.2, "snip": 0.0, "synflow": -0.15}


class _Report(_FullReport):
    """The report's writer with figures closed, not rendered (fast tests)."""

    def figure(self, fig, caption: str, *, alt: str | None = None) -> None:
        import matplotlib.pyplot as plt

        assert fig.axes, caption
        self.current.figures.append(f"<figure>{caption}</figure>")
        plt.close(fig)


def planted(
    effects: dict[str, float] = EFFECTS,
    *,
    seeds: int = 4,
    noise: float = 0.01,
    variant_name: str = "ramanujan",
    random_state: int = 0,
) -> FeatureTable:
    """ramanujan(base) gains ``effects[base]`` at sparsity 0.99, nothing at 0.9.

    Layer ``l1``'s delta_s is ``acc - 0.5`` (plus noise): positive (Ramanujan) on
    accurate networks; ``l0`` is always Ramanujan, ``l2`` never at 0.99.
    """
    rng = np.random.default_rng(random_state)
    rows, layers = [], []
    for sparsity, base_acc in ((0.9, 0.8), (0.99, 0.4)):
        for seed in range(seeds):
            shared = rng.normal(0, 0.02)
            for base, effect in effects.items():
                for arm in ("plain", "variant"):
                    acc = base_acc + shared + rng.normal(0, noise)
                    if arm == "variant" and sparsity == 0.99:
                        acc += effect
                    if arm == "variant":
                        pruner = (
                            variant_name if variant_name == "ramanujan" else f"ramanujan_{base}"
                        )
                        options = {"base": base} if variant_name == "ramanujan" else {}
                    else:
                        pruner, options = base, {}
                    nid = f"{pruner}-{base}-{sparsity}-{seed}"
                    rows.append(
                        {
                            "network_id": nid,
                            "study": "planted",
                            "architecture": "mlp",
                            "dataset": "digits",
                            "pruner": pruner,
                            "pruner_category": "graph",
                            "sparsity": sparsity,
                            "seed": seed,
                            "acc_dense": 0.95,
                            "acc_sparse": acc,
                            "acc_drop": 1 - acc / 0.95,
                            "mean_delta_s": rng.normal(),
                            "config_json": json.dumps(
                                {"pruner": pruner, "pruner_options": options}
                            ),
                        }
                    )
                    for index, name in enumerate(LAYERS):
                        if name == "l0":
                            ds, dr = 1.0, 1.0
                        elif name == "l1":
                            ds, dr = acc - 0.5 + rng.normal(0, 0.005), -1.0
                        else:
                            ds = dr = rng.uniform(0.1, 1.0) if sparsity == 0.9 else -0.5
                        layers.append(
                            {
                                "network_id": nid,
                                "layer": index,
                                "index": index,
                                "layer_name": name,
                                "delta_s": ds,
                                "delta_r": dr,
                                "layer_density": 1 - sparsity,
                            }
                        )
    return FeatureTable(pd.DataFrame(rows), layers=pd.DataFrame(layers))


def test_section_is_registered() -> None:
    assert EXTRA_SECTIONS["ramanujan_pruning"] is rp.SECTION


def test_default_base_is_the_pruners() -> None:
    from prunegraph.loader.pruning import PRUNERS

    assert PRUNERS.get("ramanujan").defaults["base"] == rp.DEFAULT_BASE


def test_arms_read_the_base_from_the_configuration() -> None:
    data = planted().data
    arms = rp.arms(data)
    variants = arms[arms["pruner"] == "ramanujan"]
    assert set(variants["base"]) == {"imp", "snip", "synflow"}
    assert set(variants["arm"]) == {"ramanujan(imp)", "ramanujan(snip)", "ramanujan(synflow)"}
    assert arms.loc[arms["pruner"] != "ramanujan", "base"].isna().all()
    # no options stored: the pruner's default base; a ramanujan_<base> name: that base
    bare = data.assign(config_json="{}")
    assert set(rp.arms(bare).query("pruner == 'ramanujan'")["base"]) == {rp.DEFAULT_BASE}
    named = rp.arms(planted(variant_name="ramanujan_x").data)
    assert set(named["base"].dropna()) == {"imp", "snip", "synflow"}


def test_applies_needs_a_variant_and_its_base() -> None:
    assert rp.applies(planted())
    data = planted().data
    assert not rp.applies(FeatureTable(data[data["pruner"] != "ramanujan"]))
    assert not rp.applies(FeatureTable(data[data["pruner"] == "ramanujan"]))
    only_imp_base = data[(data["pruner"] == "ramanujan") | (data["pruner"] == "snip")]
    only_imp_base = only_imp_base[
        (only_imp_base["pruner"] != "ramanujan")
        | only_imp_base["config_json"].str.contains('"imp"')
    ]
    assert not rp.applies(FeatureTable(only_imp_base))  # ramanujan(imp) without imp


def test_planted_effects_per_base_are_in_the_headline(tmp_path) -> None:
    sentence = rp.run(_Report(tmp_path), planted())
    assert sentence is not None
    parts = dict(part.strip().split(" ", 1) for part in sentence.split(": ", 1)[1].split(";"))
    assert set(parts) == set(EFFECTS)
    # planted at 0.99 only: imp higher there, synflow lower, snip null
    assert parts["imp"].startswith("higher in 1, lower in 0 of 2 cells (largest +0.")
    assert "mlp at 0.99" in parts["imp"]
    assert parts["synflow"].startswith("higher in 0, lower in 1 of 2 cells (largest -0.1")
    if "largest" in parts["snip"]:  # a chance verdict on the null arm stays small
        assert abs(float(parts["snip"].split("largest ")[1].split()[0])) < 0.03
    for base, effect in EFFECTS.items():
        at_top = float(parts[base].split(", ")[-1].split(" at ")[0])
        assert abs(at_top - effect) < 0.03, parts[base]
    assert "4+ pairs per cell" in sentence
    matched = pd.read_csv(tmp_path / "ramanujan_pruning_matched.csv")
    high = matched[matched["sparsity"] == 0.99].set_index("base")
    for base, effect in EFFECTS.items():
        assert abs(high.loc[base, "diff_mean"] - effect) < 0.03
    assert high.loc["imp", "verdict"] == "higher"
    assert high.loc["synflow", "verdict"] == "lower"
    assert high.loc["snip", "verdict"] == "undecided" or abs(high.loc["snip", "diff_mean"]) < 0.03
    # the headline's interval for the imp gain excludes 0, the synflow loss's too
    assert float(parts["imp"].split("[")[1].split(",")[0]) > 0
    assert float(parts["synflow"].split("[")[1].split(",")[1].split("]")[0]) < 0


def test_regimes_follow_the_planted_bounds(tmp_path) -> None:
    rp.run(_Report(tmp_path), planted())
    regimes = pd.read_csv(tmp_path / "ramanujan_pruning_regimes.csv")
    # at 0.9 every layer keeps the bound; at 0.99 l2 never does
    assert set(regimes.loc[regimes["sparsity"] == 0.9, "regime"]) == {"fully"}
    assert "fully" not in set(regimes.loc[regimes["sparsity"] == 0.99, "regime"])
    assert regimes["n"].sum() == 2 * 4 * 6
    matched = pd.read_csv(tmp_path / "ramanujan_pruning_matched.csv")
    top = matched[matched["sparsity"] == 0.99].set_index("base")
    # imp's variant is planted accurate, so its l1 keeps delta_s > 0: 2 Ramanujan layers vs 1
    assert top.loc["imp", "ramanujan_layers_variant"] > top.loc["imp", "ramanujan_layers_base"]


def test_planted_gap_correlates_with_accuracy(tmp_path) -> None:
    rp.run(_Report(tmp_path), planted())
    corr = pd.read_csv(tmp_path / "ramanujan_pruning_layers.csv")
    l1 = corr[(corr["layer_name"] == "l1") & (corr["metric"] == "delta_s")].iloc[0]
    assert l1["r"] > 0.95 and l1["r_within"] > 0.9 and l1["r_within_low"] > 0.5
    assert l1["n"] == 48
    # l0 is constant: no correlation defined
    assert corr.loc[corr["layer_name"] == "l0", "r"].isna().all()
    claims = pd.read_csv(tmp_path / "ramanujan_pruning_claims.csv")
    assert len(claims) == 3 and "delta_s: median r" in claims["this study"].iloc[2]


def test_write_report_runs_the_section(tmp_path) -> None:
    path = write_report(planted(), tmp_path, sections=("ramanujan_pruning",), n_repeats=1)
    page = path.read_text()
    assert "Ramanujan-preserving pruning" in page
    assert (tmp_path / "ramanujan_pruning_matched.csv").is_file()
    assert "failed unexpectedly" not in page
