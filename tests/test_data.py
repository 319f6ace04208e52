"""The datasets: deterministic bytes, the seed-000 folder layout, learnable targets, clear errors."""
import csv

import numpy as np
import pytest

from tlclinic import data


@pytest.mark.e2e
def test_same_seed_gives_byte_identical_shapes(tmp_path):
    first = data.fingerprint(data.build("shapes", tmp_path / "a", seed=0, quiet=True))
    assert first == data.fingerprint(data.ensure("shapes"))
    other_seed = data.fingerprint(data.build("shapes", tmp_path / "b", seed=1, quiet=True))
    assert other_seed != first


@pytest.mark.e2e
@pytest.mark.parametrize("name", ["road", "source"])
def test_redrawn_images_match_the_files_byte_for_byte(name, tmp_path):
    recipe = data.get_recipe(name)
    folder = data.ensure(name)
    for split, cls, i in list(data._jobs(recipe))[::97]:
        sub = cls or "IMG"
        (tmp_path / split / sub).mkdir(parents=True, exist_ok=True)
        data._draw_one((recipe, 0, tmp_path, split, cls, i))
        drawn = next((tmp_path / split / sub).glob(f"*_{i:05d}.png"))
        assert drawn.read_bytes() == (folder / split / sub / drawn.name).read_bytes()


def test_shapes_has_the_layout_keras_directory_loaders_read():
    from keras.utils import image_dataset_from_directory

    folder = data.ensure("shapes")
    for split, count in (("train", 1000), ("test", 100)):
        ds = image_dataset_from_directory(folder / split, image_size=(96, 96), batch_size=50, shuffle=False,
                                          label_mode="binary", verbose=False)
        assert ds.class_names == ["circles", "squares"]
        labels = np.concatenate([y.numpy().ravel() for _, y in ds])
        assert len(labels) == count and labels.mean() == 0.5


def test_shape_classes_differ_in_shape_not_in_a_pixel_statistic():
    images, labels = data.load("shapes", "train")
    assert images.shape == (1000, 96, 96, 3) and images.dtype == np.uint8
    flat = images.reshape(len(images), -1, 3).astype(np.float64)
    stats = {"mean": flat.mean(1), "std": flat.std(1)}
    for name, per_channel in stats.items():
        for c in range(3):
            a, b = per_channel[labels == 0, c], per_channel[labels == 1, c]
            gap = abs(a.mean() - b.mean()) / np.sqrt((a.var() + b.var()) / 2)
            assert gap < 0.3, f"channel {c} {name} separates the classes (effect size {gap:.2f})"


def test_road_log_angles_cover_both_signs():
    folder = data.ensure("road")
    for split, count in (("train", 2000), ("val", 500)):
        with open(folder / split / "driving_log.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        assert len(rows) == count and list(rows[0]) == ["filename", "steering"]
        angles = np.array([float(r["steering"]) for r in rows])
        assert angles.min() >= -1 and angles.max() <= 1
        assert 0.4 < (angles < 0).mean() < 0.6
    images, angles = data.load("road", "val")
    assert images.shape == (500, 96, 320, 3) and angles.dtype == np.float32


def test_missing_or_empty_folder_names_the_command_that_builds_it(tmp_path):
    with pytest.raises(data.DataMissingError, match=r"make data .*python -m tlclinic.data build shapes"):
        data.load_image_folder(tmp_path / "shapes" / "train")
    (tmp_path / "shapes" / "train" / "circles").mkdir(parents=True)
    with pytest.raises(data.DataMissingError, match=r"no images.*\n.*make data"):
        data.load_image_folder(tmp_path / "shapes" / "train")
    (tmp_path / "road" / "val").mkdir(parents=True)
    with pytest.raises(data.DataMissingError, match=r"driving_log.csv.*\n.*build road"):
        data.load_driving_log(tmp_path / "road" / "val")


def test_unknown_dataset_lists_the_known_ones():
    with pytest.raises(KeyError, match="shapes, road, source"):
        data.ensure("cats")


@pytest.mark.e2e
def test_an_interrupted_build_is_redrawn(tmp_path):
    folder = data.build("shapes", tmp_path, quiet=True)
    (folder / data.MANIFEST).unlink()
    (folder / "train" / "circles" / "circle_00000.png").write_bytes(b"truncated")
    data.ensure("shapes", tmp_path)
    assert data.fingerprint(folder) == data.fingerprint(data.ensure("shapes"))


@pytest.mark.e2e
def test_a_plain_script_without_a_main_guard_draws_the_same_bytes_and_does_not_hang(tmp_path):
    """Spawned workers run such a script's top level again; it draws in its own process instead."""
    import subprocess
    import sys

    script = tmp_path / "script.py"
    script.write_text(f"from tlclinic import data\nprint(data.fingerprint(data.ensure('shapes', {str(tmp_path)!r})))\n")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, check=True)
    assert out.stdout.split()[-1] == data.fingerprint(data.ensure("shapes"))


def test_a_splits_identity_is_its_datasets_manifest_and_its_name_without_reading_its_files(tmp_path, monkeypatch):
    """Every training on cached features asks for its splits' identities: from the manifest, not 1100 files."""
    folder = tmp_path / "shapes"
    for split in ("train", "test"):
        (folder / split).mkdir(parents=True)
    (folder / data.MANIFEST).write_text('{"seed": 0}\n')
    monkeypatch.setattr(data, "fingerprint", lambda folder: pytest.fail(f"read every file of {folder}"))
    train, test = data.identity(folder / "train"), data.identity(folder / "test")
    assert train != test
    (folder / data.MANIFEST).write_text('{"seed": 1}\n')
    assert data.identity(folder / "train") != train
    monkeypatch.undo()
    (folder / data.MANIFEST).unlink()  # a folder without a manifest is fingerprinted
    assert data.identity(folder / "train") == data.fingerprint(folder / "train")
