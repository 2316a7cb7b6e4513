# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""Layers the export's tracer cannot follow, found before anything is
traced.

``openvino.convert_model`` traces the torch module (TorchScript). A layer
that runs one of mmcv's compiled kernels (``mmcv.ops``: deformable convs
such as VFNet's and DDOD's, modulated deformable convs, CARAFE,
multi-scale deformable attention, ...) is a call into a C++ extension the
tracer cannot see into: the conversion fails with an unsupported op, or
the trace disagrees with torch after hundreds of tracer warnings. So the
export refuses such a model up front, in one line naming the layer
(:meth:`~mmlcnetv2.deploy.tasks.DeployTask.check_exportable`).

Example:
    >>> untraceable_layer(vfnet)  # doctest: +SKIP
    ('bbox_head.vfnet_reg_refine_dconv', 'DeformConv2d')
"""
import sys
from typing import Optional, Tuple

import torch.nn as nn


def _compiled(module_name: str) -> bool:
    """Whether the Python module ``module_name`` is one of mmcv's ops that
    load its C++ extension (``ext_module = ext_loader.load_ext(...)``)."""
    source = sys.modules.get(module_name)
    return module_name.startswith('mmcv.ops') and \
        getattr(source, 'ext_module', None) is not None


def runs_compiled_op(cls: type) -> bool:
    """Whether layers of class ``cls`` run an mmcv compiled kernel: the
    class or one of its bases is defined next to one (``DeformConv2d``,
    ``ModulatedDeformConv2dPack``, ...), or its module calls a function
    that is (``SAConv2d`` calls ``deform_conv2d``)."""
    for klass in cls.__mro__:
        name = klass.__module__
        if not name.startswith('mmcv.ops'):
            continue
        if _compiled(name):
            return True
        used = getattr(sys.modules.get(name), '__dict__', {}).values()
        if any(callable(v) and _compiled(_defined_in(v)) for v in used):
            return True
    return False


def _defined_in(value) -> str:
    """The module a function, class or ``Function.apply`` is defined in."""
    owner = getattr(value, '__self__', None)  # deform_conv2d = F.apply
    return (getattr(value, '__module__', None)
            or getattr(owner, '__module__', None) or '')


def untraceable_layer(model: nn.Module) -> Optional[Tuple[str, str]]:
    """The first layer of ``model`` that runs an mmcv compiled kernel at
    inference: its dotted name in the model and its class name, or None.
    Losses (``loss_cls``, ...; mmcv's ``SigmoidFocalLoss``) are not run
    by the export."""
    for name, module in model.named_modules():
        if any(part.startswith('loss') for part in name.split('.')):
            continue
        if runs_compiled_op(type(module)):
            return name, type(module).__name__
    return None
