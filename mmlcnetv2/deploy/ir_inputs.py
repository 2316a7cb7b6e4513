# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""The IR's inputs, by name: the image (:data:`IMAGE_INPUT`) and, for a
detector's IR or one that resizes inside, the ``[B, 2]`` (h, w) of each
image before padding (:data:`SIZE_INPUT`). Every export names them so
(``deploy.json``'s ``input_names``); export, calibration, the graph's
resize, the Model API IR and the inferencer find them here, never by
position.

Example:
    >>> ir_feed(compiled.inputs, x, img_shape)  # doctest: +SKIP
    {0: x, 1: img_shape}
"""
from typing import Dict, Optional, Sequence

import numpy as np

IMAGE_INPUT = 'input'
SIZE_INPUT = 'img_shape'


def port_index(ports: Sequence, name: str) -> Optional[int]:
    """The index of the port (``ov.Model.inputs``, ``CompiledModel.inputs``)
    whose tensor carries ``name``; None when none does."""
    for i, port in enumerate(ports):
        if name in port.get_names():
            return i
    return None


def ir_feed(ports: Sequence, x: np.ndarray,
            img_shape: Optional[np.ndarray] = None) -> Dict[int, np.ndarray]:
    """The inputs of an IR with ``ports``: ``x`` for :data:`IMAGE_INPUT`
    and, where the IR has :data:`SIZE_INPUT`, ``img_shape`` as ``[B, 2]``
    (one (h, w) per image of ``x``), keyed by port index.

    Raises:
        ValueError: the IR has no :data:`IMAGE_INPUT`, or it needs
            ``img_shape`` and none was given.
    """
    image = port_index(ports, IMAGE_INPUT)
    if image is None:
        raise ValueError(f'the IR has no input named {IMAGE_INPUT!r} '
                         f'(inputs: {[sorted(p.get_names()) for p in ports]})')
    feed = {image: x}
    size = port_index(ports, SIZE_INPUT)
    if size is not None:
        if img_shape is None:
            raise ValueError(f'the IR takes {SIZE_INPUT!r}; none was given')
        feed[size] = np.asarray(img_shape, np.float32).reshape(len(x), 2)
    return feed
