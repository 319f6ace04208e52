"""The backbones: committed weights that transfer, clear errors, reproducible pretraining."""
import json
import subprocess
import sys
import time

import numpy as np
import pytest

from tlclinic import backbone as bb
from tlclinic.features import cached_features, extract
from tlclinic.training import linear_probe


def test_committed_weights_are_small_and_load():
    assert bb.MINI_WEIGHTS.stat().st_size < 3_000_000
    b = bb.get_backbone("mini_inception")
    assert b.weights_id == bb.file_digest(bb.MINI_WEIGHTS)
    assert not b.model.trainable and b.feature_dim == 192


@pytest.mark.e2e
@pytest.mark.xdist_group("probe")
def test_pretrained_features_transfer_to_shapes():
    """A linear probe reaches 0.9 on the pretrained features and beats random weights by 0.1."""
    accuracy = {}
    for weights in ("pretrained", None):
        b = bb.get_backbone("mini_inception", weights=weights)
        accuracy[weights] = linear_probe(cached_features("shapes", "train", b), cached_features("shapes", "test", b))
    assert accuracy["pretrained"] >= 0.9, accuracy
    assert accuracy["pretrained"] - accuracy[None] >= 0.1, accuracy


def test_unknown_backbone_lists_the_known_ones():
    with pytest.raises(KeyError, match="mini_inception, inception_v3"):
        bb.get_backbone("resnet50")


def test_inception_v3_without_cached_weights_fails_fast_naming_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    start = time.perf_counter()
    with pytest.raises(bb.WeightsMissingError) as error:
        bb.get_backbone("inception_v3")
    assert time.perf_counter() - start < 10  # never waits on a download
    message = str(error.value)
    assert bb.INCEPTION_V3_FILE in message and str(tmp_path) in message and "mini_inception" in message


def test_missing_mini_weights_say_how_to_restore_them(tmp_path, monkeypatch):
    monkeypatch.setattr(bb, "MINI_WEIGHTS", tmp_path / "none.weights.h5")
    bb._built.cache_clear()  # built once per process: forget the one built from the real weights
    with pytest.raises(bb.WeightsMissingError, match="python -m tlclinic.pretrain"):
        bb.get_backbone("mini_inception")


@pytest.mark.parametrize("name, size", [("mini_inception", 32), ("inception_v3", 75)])
def test_images_below_the_minimum_size_name_it(name, size):
    b = bb.get_backbone(name, weights=None)
    assert b.min_size == size
    with pytest.raises(ValueError, match=f"at least {size}x{size}"):
        extract(b, np.zeros((2, size - 1, 100, 3), np.uint8))
    with pytest.raises(ValueError, match=f"at least {size}x{size}"):
        extract(b, np.zeros((2, 96, 96, 3), np.uint8), resize_to=(size - 1, size))


def test_preprocessing_maps_pixels_to_minus_one_one():
    out = bb.scale_to_unit_range(np.array([0, 127.5, 255]))
    np.testing.assert_allclose(out, [-1, 0, 1])


@pytest.mark.e2e
def test_pretraining_is_reproducible_from_its_seed(tmp_path):
    """The committed script, run twice in fresh processes, writes the same weights; another seed does not."""
    def run(seed, name):
        out = subprocess.run([sys.executable, "-m", "tlclinic.pretrain", "--epochs", "1", "--limit", "60",
                              "--seed", str(seed), "--out", str(tmp_path / name), "--quiet"],
                             capture_output=True, text=True, check=True).stdout
        return json.loads(out)["weights_sha256_16"]

    first = run(0, "a.weights.h5")
    assert run(0, "b.weights.h5") == first != run(1, "c.weights.h5")
