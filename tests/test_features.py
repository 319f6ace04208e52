"""The feature cache: computed once, reused from memory and disk, recomputed when the key changes."""
import numpy as np
import pytest

from tlclinic import features
from tlclinic.backbone import get_backbone


@pytest.fixture
def counted_extract(monkeypatch):
    calls = []
    real = features.extract

    def extract(backbone, images, resize_to=None, **kwargs):
        calls.append((backbone.weights_id, images.shape, resize_to))
        return real(backbone, images, resize_to, **kwargs)

    monkeypatch.setattr(features, "extract", extract)
    features.clear_memory()
    return calls


def test_features_are_computed_once_then_read_from_memory_and_disk(tmp_path, counted_extract):
    b = get_backbone("mini_inception")
    x1, y1 = features.cached_features("shapes", "test", b, root=tmp_path)
    assert len(counted_extract) == 1 and x1.shape == (100, 192) and list(np.bincount(y1)) == [50, 50]
    x2, _ = features.cached_features("shapes", "test", b, root=tmp_path)
    features.clear_memory()
    x3, _ = features.cached_features("shapes", "test", b, root=tmp_path)
    assert len(counted_extract) == 1
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(x1, x3)
    assert len(list((tmp_path / "features").glob("shapes-test-mini_inception-*.npz"))) == 1


def test_a_changed_key_recomputes(tmp_path, counted_extract):
    pretrained, random = get_backbone("mini_inception"), get_backbone("mini_inception", weights=None)
    base, _ = features.cached_features("shapes", "test", pretrained, root=tmp_path)
    resized, _ = features.cached_features("shapes", "test", pretrained, resize_to=(64, 64), root=tmp_path)
    other, _ = features.cached_features("shapes", "test", random, root=tmp_path)
    assert len(counted_extract) == 3
    assert not np.allclose(base, resized) and not np.allclose(base, other)


def test_cached_features_equal_a_fresh_extraction():
    from tlclinic import data

    b = get_backbone("mini_inception")
    cached, _ = features.cached_features("shapes", "test", b)
    images, _ = data.load("shapes", "test")
    np.testing.assert_allclose(cached, features.extract(b, images), rtol=1e-4, atol=1e-5)


def test_a_kept_result_is_computed_once_per_key(tmp_path, monkeypatch):
    from tlclinic import data, results

    monkeypatch.setattr(data, "DATA_DIR", tmp_path)
    calls = []
    compute = lambda: calls.append(1) or {"seeds": [1, 4]}  # noqa: E731
    assert results.kept("count", compute, 0.1) == results.kept("count", compute, 0.1) == {"seeds": [1, 4]}
    results.kept("count", compute, 0.001)
    from tlclinic.device import kernel_family

    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0" if kernel_family() == "1" else "1")
    results.kept("count", compute, 0.1)  # the other kernel family: computed anew
    assert len(calls) == 3


def test_a_result_asked_for_while_it_is_computed_is_computed_once(tmp_path, monkeypatch):
    """Two kernels (or a kernel and the demo) asking for the same demonstration at once: the second waits."""
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    from tlclinic import data, results

    monkeypatch.setattr(data, "DATA_DIR", tmp_path)
    started, calls = threading.Event(), []

    def compute():
        calls.append(1)
        started.set()
        time.sleep(0.5)
        return {"seeds": [1, 4]}

    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(results.kept, "count", compute, 0.1)
        assert started.wait(60)
        second = pool.submit(results.kept, "count", compute, 0.1)
        assert first.result() == second.result() == {"seeds": [1, 4]}
    assert calls == [1]


def test_a_cache_hit_builds_no_network():
    """Features found in the cache (on disk or in memory) are read without building the backbone's network; a
    network built later leaves Python's and NumPy's random states as they were, so whether and when it is built
    never moves the seeds of what trains after it."""
    import random
    from concurrent.futures import ThreadPoolExecutor

    from tlclinic import backbone

    features.cached_features("shapes", "test")  # computed (and the network built) if this machine had none
    backbone._built.cache_clear()
    features.clear_memory()
    try:
        for _ in range(2):
            features.cached_features("shapes", "test")
        made = backbone.get_backbone()
        assert made is backbone.get_backbone("mini_inception")
        assert not made.built, "a cache hit built the backbone's network"
        random.seed(7), np.random.seed(7)
        expected = random.random(), np.random.random()
        random.seed(7), np.random.seed(7)
        with ThreadPoolExecutor(2) as pool:  # built now, once for two threads that ask at once
            first, second = pool.map(lambda _: made.model, range(2))
        assert first is second and first.output.shape[-1] == 192
        assert (random.random(), np.random.random()) == expected
    finally:
        backbone._built.cache_clear()
