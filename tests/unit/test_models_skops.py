"""Ballast's model format: sha256 before anything else, skops only, fixed trusted types, never pickle."""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import skops.io
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.svm import SVC

from ballast.models.canonical_archive import canonicalize
from ballast.models.digest import sha256_hex
from ballast.models.errors import DigestMismatch, NotASkopsArtifact, UntrustedArtifact
from ballast.models.skops_format import load_model, serialize_model

X, Y = load_iris(return_X_y=True)


def _forest(seed: int = 0) -> RandomForestClassifier:
    return RandomForestClassifier(n_estimators=3, random_state=seed).fit(X, Y)


class WritesSentinel:
    """Unpickling this creates a file: proof that a pickle was (or was not) executed."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path), "w"))


class Harmless:
    def __init__(self) -> None:
        self.value = 42


class SetStateSentinel:
    """Building this object creates a file: proof that skops constructed an untrusted type."""

    sentinel: Path | None = None

    def __init__(self) -> None:
        self.weights = [1.0, 2.0]

    def __setstate__(self, state: dict) -> None:
        if SetStateSentinel.sentinel is not None:
            SetStateSentinel.sentinel.touch()
        self.__dict__.update(state)


def test_a_saved_model_loads_and_predicts_the_same() -> None:
    model = _forest()
    saved = serialize_model(model)
    assert saved.sha256 == sha256_hex(saved.data)
    np.testing.assert_array_equal(load_model(saved.data, saved.sha256).predict(X), model.predict(X))


def test_the_same_model_fitted_twice_gives_the_same_bytes() -> None:
    # Two distinct objects: skops would name their nodes after different memory addresses.
    assert serialize_model(_forest()).sha256 == serialize_model(_forest()).sha256
    assert serialize_model(_forest(0)).sha256 != serialize_model(_forest(1)).sha256


def test_canonical_archives_are_stable_under_canonicalisation() -> None:
    data = serialize_model(_forest()).data
    assert canonicalize(data) == data
    assert all(info.date_time == (1980, 1, 1, 0, 0, 0) for info in zipfile.ZipFile(io.BytesIO(data)).infolist())


def test_tampered_bytes_are_refused_before_parsing() -> None:
    saved = serialize_model(_forest())
    tampered = bytearray(saved.data)
    tampered[len(tampered) // 2] ^= 0x01
    with pytest.raises(DigestMismatch) as caught:
        load_model(bytes(tampered), saved.sha256)
    assert caught.value.expected == saved.sha256
    assert caught.value.reason == "DigestMismatch"


def test_a_wrong_expected_digest_is_refused() -> None:
    saved = serialize_model(_forest())
    with pytest.raises(DigestMismatch):
        load_model(saved.data, "0" * 64)


def test_a_harmless_pickle_is_refused_as_not_skops() -> None:
    data = pickle.dumps(Harmless())
    with pytest.raises(NotASkopsArtifact, match="pickle") as caught:
        load_model(data, sha256_hex(data))
    assert caught.value.reason == "UntrustedArtifact"


def test_a_malicious_pickle_is_refused_and_never_executed(tmp_path: Path) -> None:
    sentinel = tmp_path / "pwned"
    data = pickle.dumps(WritesSentinel(sentinel))
    assert not sentinel.exists()
    # The right digest, so only the format check stands between the bytes and execution.
    with pytest.raises(NotASkopsArtifact, match="never unpickles"):
        load_model(data, sha256_hex(data))
    assert not sentinel.exists()


def test_a_pickle_inside_a_zip_named_like_skops_is_refused(tmp_path: Path) -> None:
    sentinel = tmp_path / "pwned"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("schema.json", pickle.dumps(WritesSentinel(sentinel)))
    data = buffer.getvalue()
    with pytest.raises(NotASkopsArtifact):
        load_model(data, sha256_hex(data))
    assert not sentinel.exists()


def test_a_zip_without_schema_is_refused() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("model.bin", b"\x00" * 10)
    data = buffer.getvalue()
    with pytest.raises(NotASkopsArtifact, match="not a skops file"):
        load_model(data, sha256_hex(data))


def test_a_type_skops_trusts_but_ballast_does_not_is_refused() -> None:
    data = serialize_model(SVC().fit(X, Y)).data
    with pytest.raises(UntrustedArtifact) as caught:
        load_model(data, sha256_hex(data))
    assert "sklearn.svm._classes.SVC" in caught.value.untrusted_types
    assert "sklearn.svm._classes.SVC" in str(caught.value)


def test_an_untrusted_custom_type_is_refused_and_never_built(tmp_path: Path) -> None:
    SetStateSentinel.sentinel = tmp_path / "built"
    try:
        data = serialize_model({"model": SetStateSentinel()}).data
        with pytest.raises(UntrustedArtifact) as caught:
            load_model(data, sha256_hex(data))
        assert f"{__name__}.SetStateSentinel" in caught.value.untrusted_types
        assert not SetStateSentinel.sentinel.exists()
        # The control: skops really would build it if told to trust everything it names.
        skops.io.loads(data, trusted=skops.io.get_untrusted_types(data=data))
        assert SetStateSentinel.sentinel.exists()
    finally:
        SetStateSentinel.sentinel = None
