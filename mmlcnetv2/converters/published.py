# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""Our model index's weight URLs (PaddleClas's published ``.pdparams``,
:data:`mmlcnetv2.model_index.PUBLISHED_WEIGHTS`) as an mmengine checkpoint
scheme: ``get_model(name, pretrained=True)`` and ``load_from`` with such a
URL get the converted classifier.

mmengine 0.10.7's http loader would hand a ``.pdparams`` file to
``torch.load``, which cannot read it; mmengine's
``CheckpointLoader.register_scheme`` (its public API; the longest prefix
wins over its own ``https://``) routes exactly these URL prefixes to our
download cache (:mod:`.download`) and converter (:mod:`.convert`). Other
URLs stay mmengine's. :func:`mmlcnetv2.compat.register_model_index`
registers the scheme with the index.
"""
from .convert import load_weights
from .download import fetch_weights


def load_published_weights(filename: str, map_location=None) -> dict:
    """mmengine checkpoint loader: fetch and convert one of our index's
    weight URLs."""
    from mmengine.logging import print_log
    path = fetch_weights(filename)
    weights = load_weights(path)
    print_log(f'converted {weights.describe(path)}', logger='current')
    return dict(state_dict=weights.state)


def register_weights_scheme() -> None:
    """Route our index's weight URLs to :func:`load_published_weights`
    (mmengine's ``CheckpointLoader``; idempotent)."""
    from mmengine.runner.checkpoint import CheckpointLoader

    from ..model_index import PUBLISHED_WEIGHTS
    CheckpointLoader.register_scheme(
        list(PUBLISHED_WEIGHTS), load_published_weights, force=True)
