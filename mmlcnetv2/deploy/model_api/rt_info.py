# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""``rt_info['model_info']``: what OpenVINO Model API reads from an IR.

Model API (the ``openvino-model-api`` package; OpenVINO Model Server and DL
Streamer read the same keys) picks its wrapper by ``model_info/model_type``
and configures it from the other ``model_info`` keys, all strings: the
class names, the thresholds, and how to preprocess (``resize_type``,
``reverse_input_channels``, ``mean_values``, ``scale_values``, or
``embedded_processing`` when the IR does it all itself). Without them
``Model.create_model('model.xml')`` refuses the IR (``There is no model
with name uknown``).

Only the IR that runs in Model API and gives OpenVINOInferencer's results
names a wrapper: the self-contained form
(:mod:`~mmlcnetv2.deploy.model_api.self_contained`, ``model_api.xml``).
Model API's
own preprocessing is not OpenMMLab's (it resizes inside OpenVINO, has no
ResizeEdge-then-CenterCrop, hands a dynamic IR the image unresized, feeds a
detector's second input ``[h, w, 1]``, on which the SSD wrapper then fails
on every image), so ``model.xml`` carries the class names and the
preprocessing keys but no ``model_type``: Model API refuses it rather than
load it and give other results; docs/deploy.md, "OpenVINO Model API".

Class names: Model API's ``labels`` is one whitespace-separated string and
knows no escape, so a name with a space would become two labels and shift
every later one. As OTX does, whitespace inside a name becomes ``_``
(:func:`label_string`); the exact names stay in ``label_info`` (JSON,
OTX's key), from which :func:`class_names` reads them back.

Example:
    >>> info = model_info(meta, self_contained=True)  # doctest: +SKIP
    >>> info['model_type'], info['labels']  # doctest: +SKIP
    ('SSD', 'person traffic_light')
"""
import json
import re
from typing import Dict, List, Sequence

from ..preprocess.spec import in_graph
from ..preprocess.steps import STEPS
from ..tasks import get_task

#: The self-contained Model API IR an export writes with ``model_api=True``
#: (``tools/deploy.py --model-api``), beside ``model.xml``.
MODEL_API_FILES = ('model_api.xml', 'model_api.bin')


def label_string(classes: Sequence[str]) -> str:
    """Model API's ``labels``: the names, whitespace inside each replaced
    by ``_`` (OTX's escape: Model API splits the string at whitespace).

    Example:
        >>> label_string(['person', 'traffic light'])
        'person traffic_light'
    """
    return ' '.join(re.sub(r'\s', '_', str(c)) for c in classes)


def class_names(ov_model) -> List[str]:
    """The exact class names an IR's ``model_info/label_info`` keeps."""
    info = ov_model.get_rt_info(['model_info', 'label_info']).astype(str)
    return list(json.loads(info)['label_names'])


def _resize_type(steps: List[dict]) -> str:
    """Model API's ``resize_type`` nearest to the test pipeline's resize:
    ``crop`` (a centre square, resized) for a centre crop, ``fit_to_window``
    (keep ratio, pad bottom and right) for a keep-ratio resize, else
    ``standard`` (stretch to the input size); each step says which it calls
    for (:meth:`~mmlcnetv2.deploy.preprocess.steps.Step.
    model_api_resize_type`)."""
    kinds = {STEPS[s['op']].model_api_resize_type(s) for s in steps}
    for kind in ('crop', 'fit_to_window'):  # the first found wins
        if kind in kinds:
            return kind
    return 'standard'


def _numbers(values: Sequence[float]) -> str:
    return ' '.join(f'{float(v):g}' for v in values)


def model_info(meta: dict, self_contained: bool) -> Dict[str, str]:
    """The ``model_info`` keys (strings) for the IR ``meta`` describes.

    Args:
        meta (dict): ``deploy.json``'s content.
        self_contained (bool): For ``model_api.xml``, which takes the
            decoded BGR image as it is and does everything inside
            (``embedded_processing``; ``orig_height``/``orig_width``: the
            frame its detection boxes are in, the export size), and is the
            one IR that names Model API's wrapper (``model_type``).

    Returns:
        dict: key -> value, for ``rt_info['model_info'][key]``.
    """
    task = get_task(meta['task'])
    pre = meta['preprocess']
    info = dict(labels=label_string(meta['classes']),
                label_info=json.dumps(dict(label_names=meta['classes'])),
                task_type=task.name)
    info.update(task.model_api_fields(meta))
    if self_contained:
        h, w = meta['input']['export_size']
        info.update(model_type=task.model_api_type,
                    embedded_processing='True', resize_type='standard',
                    orig_height=str(h), orig_width=str(w),
                    reverse_input_channels='False', mean_values='',
                    scale_values='')
        return info
    normalized = 'normalize' in in_graph(meta)
    info.update(
        resize_type=_resize_type(pre['steps']),
        # The uint8 forms take BGR and normalize inside; the float form
        # wants Model API to convert and normalize as the config does.
        reverse_input_channels=str(not normalized
                                   and pre['color_order'] == 'RGB'),
        mean_values='' if normalized else _numbers(pre['mean']),
        scale_values='' if normalized else _numbers(pre['std']))
    return info


def write_model_info(ov_model, info: Dict[str, str]) -> None:
    """Set ``rt_info['model_info'][key] = value`` on ``ov_model``
    (``ov.save_model`` writes it into the ``.xml``)."""
    for key, value in info.items():
        ov_model.set_rt_info(value, ['model_info', key])
