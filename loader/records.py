"""The identity and outcome of one stored network: :class:`NetworkRecord`.

The study runner builds one record per trained and pruned network; the
exporter writes it as the properties of the ``(:Network)`` node (see
``docs/store.md``). Validation happens here, once, so every path into the
store (streaming export, bulk import) sees the same clean values.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from prunegraph.errors import ValidationError

NETWORK_ID_PATTERN = re.compile(r"^[0-9a-f]{16}$")
STUDY_NAME_MAX = 200
_TEXT_MAX = 200


def validate_network_id(network_id: object, *, where: str = "NetworkRecord") -> str:
    """Return ``network_id`` if it is 16 lowercase hex characters, else raise."""
    if not isinstance(network_id, str) or not NETWORK_ID_PATTERN.match(network_id):
        raise ValidationError(
            f"The 'network_id' parameter of {where} must be 16 lowercase hex characters "
            f"(^[0-9a-f]{{16}}$). Got {network_id!r} instead."
        )
    return network_id


def validate_study_name(study: object, *, where: str = "NetworkRecord") -> str:
    """Return ``study`` if it is a usable study name, else raise.

    Study names are stored literally (always passed as query parameters, never
    spliced into Cypher), so quotes, backticks, braces or semicolons are
    harmless and allowed. Rejected: non-strings, empty or blank names, names
    longer than 200 characters, and control characters (they would garble
    tables, file names and logs).
    """
    if not isinstance(study, str) or not study.strip():
        raise ValidationError(
            f"The 'study' parameter of {where} must be a non-empty string. Got {study!r} instead."
        )
    if len(study) > STUDY_NAME_MAX:
        raise ValidationError(
            f"The 'study' parameter of {where} must have at most {STUDY_NAME_MAX} characters. "
            f"Got {len(study)} instead."
        )
    if any(unicodedata.category(ch).startswith("C") for ch in study):
        raise ValidationError(
            f"The 'study' parameter of {where} must not contain control characters. Got {study!r} instead."
        )
    return study


def _text(name: str, value: object, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > _TEXT_MAX:
        raise ValidationError(
            f"The '{name}' parameter of NetworkRecord must be a non-empty string of at most "
            f"{_TEXT_MAX} characters. Got {value!r} instead."
        )
    if any(unicodedata.category(ch).startswith("C") for ch in value):
        raise ValidationError(
            f"The '{name}' parameter of NetworkRecord must not contain control characters. "
            f"Got {value!r} instead."
        )
    return value


def _fraction(name: str, value: object, *, optional: bool, closed: bool = True) -> float | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating | np.integer):
        raise ValidationError(
            f"The '{name}' parameter of NetworkRecord must be a float in the range [0, 1]. "
            f"Got {value!r} instead."
        )
    v = float(value)
    ok = 0.0 <= v <= 1.0 if closed else 0.0 <= v < 1.0
    if not ok or math.isnan(v):
        interval = "[0, 1]" if closed else "[0, 1)"
        raise ValidationError(
            f"The '{name}' parameter of NetworkRecord must be a float in the range {interval}. "
            f"Got {value!r} instead."
        )
    return v


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, tuple | set | frozenset):
        return list(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def config_to_json(config: dict[str, Any]) -> str:
    """Canonical JSON of a run configuration (sorted keys, no whitespace)."""
    try:
        return json.dumps(config, sort_keys=True, separators=(",", ":"), default=_json_default)
    except (TypeError, ValueError) as exc:
        raise ValidationError(
            f"The 'config' parameter of NetworkRecord must be JSON serialisable: {exc}."
        ) from None


def network_id_from_config(config: dict[str, Any]) -> str:
    """A 16-hex-digit network id: the first 64 bits of SHA-256 of the canonical config JSON."""
    return hashlib.sha256(config_to_json(config).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class NetworkRecord:
    """Who a stored network is and how well it does: the ``(:Network)`` properties.

    Parameters
    ----------
    network_id : str
        16 lowercase hex characters, derived by the caller from the full run
        configuration (e.g. :func:`network_id_from_config`).
    study : str
        Study name; stored literally (see :func:`validate_study_name`).
    architecture, dataset, pruner, pruner_category : str
        Names from the model zoo, the data loader and the pruner registry.
    sparsity : float
        Fraction of prunable weights removed, in ``[0, 1)`` (0 = dense).
    seed : int
        Non-negative training/pruning seed.
    input_shape : tuple of int
        ``(C, H, W)`` or ``(F,)``, all positive.
    acc_dense, acc_sparse : float or None
        Test accuracies in ``[0, 1]``; the relative accuracy drop
        ``acc_drop = 1 - acc_sparse / acc_dense`` (Cunegatti et al. 2024) is computed when both
        are given (and ``acc_dense > 0``) and must match if passed.
    config : dict
        The run configuration; stored as canonical JSON (``config_json``).
    content_hash : str
        Hex digest of the encoded graph (:func:`prunegraph.loader.export.graph_content_hash`);
        re-exports compare it to refuse silently replacing a different graph.
    """

    network_id: str
    study: str
    architecture: str
    dataset: str
    pruner: str
    pruner_category: str
    sparsity: float
    seed: int
    input_shape: tuple[int, ...]
    acc_dense: float | None = None
    acc_sparse: float | None = None
    acc_drop: float | None = None
    config: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    content_hash: str = ""

    def __post_init__(self) -> None:
        validate_network_id(self.network_id)
        validate_study_name(self.study)
        for name in ("architecture", "dataset", "pruner", "pruner_category"):
            _text(name, getattr(self, name))
        sparsity = _fraction("sparsity", self.sparsity, optional=False, closed=False)
        object.__setattr__(self, "sparsity", sparsity)
        if (
            isinstance(self.seed, bool)
            or not isinstance(self.seed, int | np.integer)
            or self.seed < 0
        ):
            raise ValidationError(
                f"The 'seed' parameter of NetworkRecord must be a non-negative int. Got {self.seed!r} instead."
            )
        object.__setattr__(self, "seed", int(self.seed))
        shape = self.input_shape
        if (
            not isinstance(shape, tuple | list)
            or not shape
            or not all(
                isinstance(s, int | np.integer) and not isinstance(s, bool) and s > 0 for s in shape
            )
        ):
            raise ValidationError(
                "The 'input_shape' parameter of NetworkRecord must be a non-empty tuple of positive "
                f"ints such as (3, 32, 32). Got {shape!r} instead."
            )
        object.__setattr__(self, "input_shape", tuple(int(s) for s in shape))
        dense = _fraction("acc_dense", self.acc_dense, optional=True)
        sparse = _fraction("acc_sparse", self.acc_sparse, optional=True)
        object.__setattr__(self, "acc_dense", dense)
        object.__setattr__(self, "acc_sparse", sparse)
        drop = None if dense is None or sparse is None or dense == 0 else 1.0 - sparse / dense
        if self.acc_drop is not None:
            if isinstance(self.acc_drop, bool) or not isinstance(
                self.acc_drop, int | float | np.floating
            ):
                raise ValidationError(
                    f"The 'acc_drop' parameter of NetworkRecord must be a float. Got {self.acc_drop!r} instead."
                )
            if drop is not None and not math.isclose(float(self.acc_drop), drop, abs_tol=1e-9):
                raise ValidationError(
                    "The 'acc_drop' parameter of NetworkRecord must equal 1 - acc_sparse / acc_dense "
                    f"({drop:.6g}). Got {self.acc_drop!r} instead."
                )
            drop = float(self.acc_drop)
        object.__setattr__(self, "acc_drop", drop)
        if not isinstance(self.config, dict):
            raise ValidationError(
                f"The 'config' parameter of NetworkRecord must be a dict. Got {type(self.config).__name__} instead."
            )
        config_to_json(self.config)  # fail early on unserialisable configs
        if not isinstance(self.content_hash, str) or (
            self.content_hash and not re.fullmatch(r"[0-9a-f]{16,128}", self.content_hash)
        ):
            raise ValidationError(
                "The 'content_hash' parameter of NetworkRecord must be a lowercase hex digest "
                f"(16-128 characters) or ''. Got {self.content_hash!r} instead."
            )

    @property
    def config_json(self) -> str:
        return config_to_json(self.config)

    def with_content_hash(self, content_hash: str) -> NetworkRecord:
        """A copy with ``content_hash`` set."""
        from dataclasses import replace

        return replace(self, content_hash=content_hash)

    def to_properties(self) -> dict[str, Any]:
        """The ``(:Network)`` node properties (``config`` becomes ``config_json``; no None values)."""
        props: dict[str, Any] = {
            "network_id": self.network_id,
            "study": self.study,
            "architecture": self.architecture,
            "dataset": self.dataset,
            "pruner": self.pruner,
            "pruner_category": self.pruner_category,
            "sparsity": self.sparsity,
            "seed": self.seed,
            "input_shape": list(self.input_shape),
            "acc_dense": self.acc_dense,
            "acc_sparse": self.acc_sparse,
            "acc_drop": self.acc_drop,
            "config_json": self.config_json,
            "content_hash": self.content_hash,
        }
        return {k: v for k, v in props.items() if v is not None}

    @classmethod
    def from_properties(cls, props: dict[str, Any]) -> NetworkRecord:
        """Rebuild a record from ``(:Network)`` properties (extra keys are ignored)."""
        try:
            return cls(
                network_id=props["network_id"],
                study=props["study"],
                architecture=props["architecture"],
                dataset=props["dataset"],
                pruner=props["pruner"],
                pruner_category=props["pruner_category"],
                sparsity=props["sparsity"],
                seed=props["seed"],
                input_shape=tuple(props["input_shape"]),
                acc_dense=props.get("acc_dense"),
                acc_sparse=props.get("acc_sparse"),
                acc_drop=props.get("acc_drop"),
                config=json.loads(props.get("config_json") or "{}"),
                content_hash=props.get("content_hash", ""),
            )
        except KeyError as exc:
            raise ValidationError(f"Network properties lack {exc.args[0]!r}.") from None
