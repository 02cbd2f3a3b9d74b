"""The pixel-similarity baseline's nearest mean: the posts' distances, computed without their
broadcast but with their predictions."""

from __future__ import annotations

import pytest
import torch

from benchmarks.bench_baseline import posts_predict
from mnistgrid.core.baseline import class_means, predict
from mnistgrid.data.datasets import load_task
from mnistgrid.settings import load_settings
from mnistgrid.spec import DataSpec


@pytest.mark.parametrize("digits", [None, (3, 7)])
@pytest.mark.parametrize("distance", ["mae", "mse"])
def test_predictions_are_the_posts_on_real_mnist(mnist_dir, digits, distance):
    data = load_task(mnist_dir, load_settings().cache_dir, DataSpec(digits=digits))
    means = class_means(data.x_train, data.y_train, data.n_classes)
    expected = posts_predict(means, data.x_valid, distance)
    assert torch.equal(predict(means, data.x_valid, distance), expected)


def test_each_distance_picks_its_own_nearest_mean():
    """An image one pixel away from a blank mean, and a little away everywhere from another:
    nearer the blank one by mean absolute difference, the other by mean squared difference."""
    means = torch.tensor([[0.0, 0.0, 0.0, 0.0], [0.5, 0.3, 0.3, 0.3]])
    image = torch.tensor([[1.0, 0.0, 0.0, 0.0]])
    assert predict(means, image, "mae").tolist() == [0]
    assert predict(means, image, "mse").tolist() == [1]
    for distance in ("mae", "mse"):
        assert torch.equal(predict(means, image, distance), posts_predict(means, image, distance))
