# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""The export phase "convert + check": the task's export graph -> an
``ov.Model`` checked against the task's reference on the example input;
and the optional ONNX file, checked in onnxruntime.

Why ``openvino.convert_model`` on the torch module (TorchScript tracing
inside OpenVINO's PyTorch frontend) rather than ONNX -> OpenVINO: it keeps
``torchvision.ops.batched_nms`` as one ``NonMaxSuppression`` op that returns
no rows on empty input (the legacy ONNX route returns a bogus row), and the
pooling needs no ONNX ``Shape/Gather/Concat/Reshape`` arithmetic, so the CPU
plugin fuses each SE block into one ``Subgraph`` (see
:func:`~mmlcnetv2.apis.build.use_mean_pooling`).
"""
import copy
from typing import Sequence, Tuple

import numpy as np
import torch


def convert(wrapper: torch.nn.Module, example: Tuple[torch.Tensor, ...],
            dynamic: bool, names: Sequence[str],
            input_names: Sequence[str] = ('input', )):
    """``openvino.convert_model`` with named inputs/outputs."""
    import openvino as ov
    shapes = [[-1, 3, -1, -1] if dynamic else list(example[0].shape)]
    shapes += [[-1, 2] if dynamic else list(t.shape) for t in example[1:]]
    # Modules the task converts its own way (a detector's NMS), and a copy
    # to trace: convert_model patches their forward for tracing and
    # (OpenVINO 2026.4) leaves it patched, which would break any later
    # trace of the wrapper (the ONNX export).
    extensions = getattr(wrapper, 'openvino_extensions', list)()
    traced = copy.deepcopy(wrapper) if extensions else wrapper
    try:
        with torch.no_grad():
            ov_model = ov.convert_model(
                traced, example_input=example,
                input=[ov.PartialShape(s) for s in shapes],
                extension=extensions or None)
    except Exception as e:  # noqa: BLE001  (OpConversionFailure & co.)
        # OpenVINO lists the ops it has no rule for; keep that, say where.
        raise RuntimeError(
            f'OpenVINO could not convert {type(wrapper).__name__}: an op in '
            f'the model is unsupported or failed to convert.\n{e}') from e
    for inp, name in zip(ov_model.inputs, input_names):
        inp.get_tensor().set_names({name})
    for out, name in zip(ov_model.outputs, names):
        out.get_tensor().set_names({name})
    return ov_model


def convert_checked(wrapper: torch.nn.Module,
                    example: Tuple[torch.Tensor, ...], dynamic: bool,
                    task) -> Tuple[object, dict]:
    """:func:`convert`, then the IR checked against torch on ``example``.

    The tracer inside ``convert_model`` compares two runs of its own and
    warns (``TracerWarning``, e.g. "Tensor-likes are not close!") on
    differences that say nothing about the IR: a detector's NMS on a noise
    input reorders near-equal boxes. Those warnings are held back; what
    counts is the IR against the task's reference on the example input,
    measured by the task (:meth:`DeployTask.conversion_check`: against the
    wrapper in torch, or for a detector mmdet's own ``predict``).

    Returns:
        The converted model and ``deploy.json``'s ``conversion_check``
        (``max_abs_diff``, ``summary``).

    Raises:
        UnsupportedModelError: the IR disagrees with torch (one line: the
            measure, how many tracer warnings there were and the first).
    """
    import warnings
    import openvino as ov
    from ...errors import UnsupportedModelError
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always', torch.jit.TracerWarning)
        ov_model = convert(wrapper, example, dynamic, task.output_names,
                           task.input_names)
    tracer = [w for w in caught
              if issubclass(w.category, torch.jit.TracerWarning)]
    compiled = ov.Core().compile_model(
        ov_model, 'CPU', {'INFERENCE_PRECISION_HINT': 'f32'})
    result = compiled([t.numpy() for t in example])
    check = task.conversion_check(wrapper, example,
                                  [result[o] for o in compiled.outputs])
    # The other warnings are not ours to hide. The tracer's are noise when
    # the check passed, and when it failed hundreds of them would bury the
    # reason: the one line counts them and quotes the first.
    for w in caught:
        if w not in tracer:
            warnings.warn_explicit(w.message, w.category, w.filename,
                                   w.lineno)
    if not check['ok']:
        said = ''
        if tracer:
            first = str(tracer[0].message).strip().split('. ')[0]
            said = (f'; the tracer warned {len(tracer)} times, first: '
                    f'{first.splitlines()[0][:200]}')
        raise UnsupportedModelError(
            'The converted IR disagrees with torch on the example input '
            f"({check['summary']}): the model does not export faithfully"
            f'{said}')
    return ov_model, dict(max_abs_diff=check['max_abs_diff'],
                          summary=check['summary'])


def export_onnx(wrapper: torch.nn.Module, example: Tuple[torch.Tensor, ...],
                path: str, dynamic: bool, names: Sequence[str],
                input_names: Sequence[str] = ('input', )) -> None:
    """``torch.onnx.export`` with the legacy TorchScript exporter.

    Why legacy (``dynamo=False``): the dynamo exporter fails on the
    data-dependent shapes of NMS and boolean masks (``nonzero``), which the
    TorchScript tracer records as ONNX ``NonMaxSuppression``/``NonZero``.
    """
    axes = None
    if dynamic:
        axes = {'input': {0: 'batch', 2: 'height', 3: 'width'}}
        for name in list(input_names[1:]) + list(names):
            axes[name] = {0: 'batch'}
    with torch.no_grad():
        torch.onnx.export(wrapper, tuple(example), path,
                          input_names=list(input_names),
                          output_names=list(names), dynamic_axes=axes,
                          opset_version=17, dynamo=False)


def check_onnx(path: str, wrapper: torch.nn.Module,
               example: Tuple[torch.Tensor, ...],
               input_names: Sequence[str] = ('input', )) -> float:
    """Run the ONNX file in onnxruntime; max abs difference to torch."""
    import onnxruntime as ort
    sess = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    outs = sess.run(None, {n: t.numpy()
                           for n, t in zip(input_names, example)})
    with torch.no_grad():
        ref = wrapper(*example)
    ref = ref if isinstance(ref, tuple) else (ref, )
    return max(float(np.abs(o.astype(np.float64) - r.numpy()).max())
               for o, r in zip(outs, ref))
