"""The PaddleClas reference model, for parity tests.

Builds PaddleClas 2.6.0's own ``PPLCNetV2_<arch>`` (``pp_lcnet_v2.py``) with
paddlepaddle, on the CPU. ``make setup-reference`` installs both; without
them the parity tests skip, unless ``MMLCNETV2_REQUIRE_REFERENCE=1`` (as in
``make test`` and CI) makes that an error.
"""
import importlib.util
import os
import os.path as osp
import sys

import numpy as np
import pytest

REQUIRED = os.environ.get('MMLCNETV2_REQUIRE_REFERENCE') == '1'


def import_paddle_reference():
    """Return ``(paddle, pp_lcnet_v2 module)`` or skip/fail clearly."""
    missing = [m for m in ('paddle', 'paddleclas')
               if importlib.util.find_spec(m) is None]
    if missing:
        msg = (f'PaddleClas reference not installed ({", ".join(missing)} '
               'missing): run `make setup-reference`')
        if REQUIRED:
            pytest.fail(msg)
        pytest.skip(msg)
    import paddle
    # paddleclas uses relative imports from its own folder as `ppcls`.
    spec = importlib.util.find_spec('paddleclas')
    pkg_dir = osp.dirname(spec.origin)
    if pkg_dir not in sys.path:
        sys.path.insert(0, pkg_dir)
    from ppcls.arch.backbone.legendary_models import pp_lcnet_v2
    paddle.set_device('cpu')
    return paddle, pp_lcnet_v2


def build_reference(arch: str, seed: int = 0):
    """A PaddleClas PPLCNetV2_<arch> with random weights *and* random BN
    statistics/affine parameters (untrained BN would hide BN mistakes).

    The ranges keep activations near unit scale through the depth, as in a
    trained net; with a gain above 1 per BN (e.g. var < 1), random large's
    activations grow ~5000x by stage 4 and float32 rounding alone, amplified
    through 8 SE blocks, reaches 7e-4 of the logits, in either framework.
    """
    paddle, pp_lcnet_v2 = import_paddle_reference()
    paddle.seed(seed)
    model = getattr(pp_lcnet_v2, f'PPLCNetV2_{arch}')(pretrained=False)
    rng = np.random.default_rng(seed)
    for layer in model.sublayers():
        if isinstance(layer, paddle.nn.BatchNorm2D):
            n = layer.weight.shape[0]
            layer._mean.set_value(
                (rng.standard_normal(n) * 0.1).astype('float32'))
            layer._variance.set_value(
                (rng.random(n) + 1.0).astype('float32'))
            layer.weight.set_value(
                (rng.random(n) * 0.5 + 0.5).astype('float32'))
            layer.bias.set_value(
                (rng.standard_normal(n) * 0.1).astype('float32'))
    model.eval()
    return paddle, model


def reference_outputs(paddle, model, x: np.ndarray):
    """Logits and the four stage outputs of the reference, in eval mode."""
    with paddle.no_grad():
        t = paddle.to_tensor(x)
        logits = model(t).numpy()
        feats = []
        y = model.stem(t)
        for stage in model.stages:
            y = stage(y)
            feats.append(y.numpy())
    return logits, feats
