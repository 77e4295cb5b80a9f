"""Unported TF 1.x code (resnet_core/naive_tf1.py) runs on every 1.x release: what it costs there is the
deprecation notices TensorFlow logs for its lines, which tfpin's in-cell census collects from this very run
into the report ("Deprecation census": call site, API, releases). On TF 2.x it stops at its first missing name.
"""
import pytest

from compat import tf1, unavailable


@pytest.mark.skipif(bool(unavailable("naive_tf1_broken")), reason=str(unavailable("naive_tf1_broken")))
def test_naive_tf1_training_step_runs():
    from resnet_core import naive_tf1

    with tf1.Graph().as_default():
        naive_tf1.naive_training()
