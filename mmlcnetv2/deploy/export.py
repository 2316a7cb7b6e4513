# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""Config + checkpoint -> OpenVINO IR (+ ONNX) + ``deploy.json``.

Why ``openvino.convert_model`` on the torch module (TorchScript tracing
inside OpenVINO's PyTorch frontend) rather than ONNX -> OpenVINO: it keeps
``torchvision.ops.batched_nms`` as one ``NonMaxSuppression`` op that returns
no rows on empty input (the legacy ONNX route returns a bogus row), and the
pooling needs no ONNX ``Shape/Gather/Concat/Reshape`` arithmetic, so the CPU
plugin fuses each SE block into one ``Subgraph`` (see
:func:`~mmlcnetv2.apis.build.use_mean_pooling`).

What is task-specific (the export graph, its names, the ``deploy.json``
fields) is asked of the task object (:mod:`mmlcnetv2.deploy.tasks`); the
preprocessing part of ``deploy.json`` is :mod:`mmlcnetv2.deploy.pipeline`'s.
"""
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.config import Config

from ..apis.build import (build_model, load_config, prepare_for_export,
                          register_scope)
from ..errors import UserInputError
from ..names import EXPORT_PRECISIONS, INPUT_FORMS, export_precision
from ..utils.atomic import atomic_update, temp_entries
from .meta import build_meta, save_meta
from .graph_preprocess import add_preprocessing
from .model_info import MODEL_API_FILES, model_info, write_model_info
from .self_contained import self_contained_model, unsupported
from .pipeline import export_preprocess, in_graph
from .schema import (META_FILE, DeployFormatError, check_meta_to_write,
                     mark_num_classes, owned_files)
from .tasks import configure_task, get_task, task_of

PRECISIONS = EXPORT_PRECISIONS  # (re-exported: mmlcnetv2.deploy.PRECISIONS)


def default_dynamic(task: str) -> bool:
    """Whether ``task`` exports with dynamic shapes unless told otherwise.

    Detection and segmentation: yes. Their test pipelines resize with
    ``keep_ratio`` and pad to a size divisor, so the input shape follows
    each image's aspect ratio, which a fixed graph input cannot.
    Classification ends in a centre crop: one fixed shape, static is exact
    (and faster: OpenVINO fuses more with static shapes).
    """
    return get_task(task).default_dynamic


def load_for_export(config: str, checkpoint: Optional[str],
                    cfg_options: Optional[dict] = None
                    ) -> Tuple[Config, torch.nn.Module, str]:
    """Build the config's model with the checkpoint, fused, in eval mode.

    Raises:
        RuntimeError: the checkpoint does not fit the config (names the
            config and checkpoint; strict loading's message follows).
    """
    from ..cli.checks import check_model_config
    cfg = load_config(config, cfg_options)
    task = task_of(cfg)
    register_scope(cfg)
    check_model_config(cfg)  # as train.py: one line for a bad value
    # No pretrained-backbone download/load at export: the checkpoint has it.
    backbone = cfg.model.get('backbone', None)
    if backbone is not None and backbone.get('init_cfg', None) is not None:
        backbone['init_cfg'] = None
    try:
        model = build_model(cfg, checkpoint)
    except RuntimeError as e:
        raise RuntimeError(
            f'Checkpoint {checkpoint!r} does not match config {config!r} '
            f'(wrong config, or a fused checkpoint for an unfused config?): '
            f'{e}') from e
    return cfg, prepare_for_export(model), task


def convert(wrapper: torch.nn.Module, example: Tuple[torch.Tensor, ...],
            dynamic: bool, names: Sequence[str],
            input_names: Sequence[str] = ('input', )):
    """``openvino.convert_model`` with named inputs/outputs."""
    import openvino as ov
    shapes = [[-1, 3, -1, -1] if dynamic else list(example[0].shape)]
    shapes += [[-1, 2] if dynamic else list(t.shape) for t in example[1:]]
    try:
        with torch.no_grad():
            ov_model = ov.convert_model(
                wrapper, example_input=example,
                input=[ov.PartialShape(s) for s in shapes])
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
    counts is the IR against the task's reference on the example input
    (:meth:`DeployTask.reference_outputs`: the wrapper in torch, or for a
    detector mmdet's own ``predict``), measured by the task
    (:meth:`DeployTask.conversion_check`).

    Returns:
        The converted model and ``deploy.json``'s ``conversion_check``
        (``max_abs_diff``, ``summary``).

    Raises:
        UnsupportedModelError: the IR disagrees with torch (one line: the
            measure, how many tracer warnings there were and the first).
    """
    import warnings
    import openvino as ov
    from ..errors import UnsupportedModelError
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always', torch.jit.TracerWarning)
        ov_model = convert(wrapper, example, dynamic, task.output_names,
                           task.input_names)
    tracer = [w for w in caught
              if issubclass(w.category, torch.jit.TracerWarning)]
    compiled = ov.Core().compile_model(
        ov_model, 'CPU', {'INFERENCE_PRECISION_HINT': 'f32'})
    result = compiled([t.numpy() for t in example])
    out = task.final_outputs(wrapper,
                             [result[o] for o in compiled.outputs])
    ref = task.reference_outputs(wrapper, example)
    check = task.conversion_check(ref, out)
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


def files_to_replace(out_dir: str, writes: Sequence[str],
                     overwrite: bool = True) -> List[str]:
    """The files of a previous export in ``out_dir`` that a new one replaces.

    ``out_dir`` may be missing, empty, or an export of ``tools/deploy.py``
    (recognised by its ``deploy.json``); only the files that export lists
    are replaced, so anything else in the folder (the pictures
    ``tools/infer.py`` draws into ``out_dir/vis``, a user's notes) stays.

    Args:
        out_dir (str): The output folder.
        writes (Sequence[str]): The file names the new export writes.
        overwrite (bool): Allow replacing a previous export.

    Raises:
        UserInputError: ``out_dir`` is a file, a non-empty folder that is not
            an export, or holds a file of its own under a name the export
            writes. Nothing is changed.
        FileExistsError: ``out_dir`` is an export and ``overwrite`` is False.
    """
    if not osp.lexists(out_dir):
        return []
    if not osp.isdir(out_dir):
        raise UserInputError(f'Output folder {out_dir!r} is a file, not a '
                             'folder; nothing was written')
    # Our temporary files (a killed run's, which atomic_update cleans, or a
    # live run's) do not count; a user's of a look-alike name does.
    ours = temp_entries(out_dir)
    entries = [e for e in os.listdir(out_dir) if e not in ours]
    if not entries:
        return []
    try:
        owned = owned_files(out_dir)
    except DeployFormatError as e:
        raise UserInputError(
            f'Output folder {out_dir!r} is not empty and is not an export of '
            f'tools/deploy.py ({e}); nothing was written: choose a new or '
            'empty folder') from None
    if not overwrite:
        raise FileExistsError(f'{out_dir!r} holds an export already')
    clash = sorted(n for n in writes if n in entries and n not in owned)
    if clash:
        raise UserInputError(
            f'Output folder {out_dir!r}: {clash[0]!r} there is not one of the '
            f'files its {META_FILE} lists, and the export would overwrite it; '
            'nothing was written')
    return owned


def export(config: str,
           checkpoint: Optional[str],
           out_dir: str,
           shape: Optional[Tuple[int, int]] = None,
           dynamic: Optional[bool] = None,
           precision: str = 'f32',
           calib: int = 300,
           onnx: bool = False,
           cfg_options: Optional[dict] = None,
           overwrite: bool = True,
           max_drop: Optional[float] = None,
           nms: Optional[str] = None,
           input_form: Optional[str] = None,
           model_api: Optional[bool] = None,
           int8_options: Optional[dict] = None) -> dict:
    """Export a config + checkpoint to ``out_dir``; see ``tools/deploy.py``.

    ``out_dir`` must be missing, empty or a previous export (see
    :func:`files_to_replace`); of a previous export only the files it lists
    in ``deploy.json`` are replaced, other files stay. Everything is written
    into a temporary folder first and moved into place at the end, so a
    failed export leaves ``out_dir`` as it was.

    ``dynamic=None`` (the default) picks :func:`default_dynamic`: dynamic
    for detection and segmentation (exact: the input follows each image's
    padded shape, as in mmdet/mmseg), static for classification.
    ``precision`` is one of :data:`PRECISIONS` (``f32``, ``f16``, ``int8``;
    the earlier spellings ``fp32``/``fp16`` are accepted), written to
    ``deploy.json`` in the new spelling.

    ``input_form`` (:data:`~mmlcnetv2.names.INPUT_FORMS`):
    ``'uint8'`` (the default) builds the colour order, normalization,
    layout and (dynamic IRs) padding into the IR, which then takes the
    resized ``uint8`` BGR image ``NHWC``
    (:mod:`~mmlcnetv2.deploy.graph_preprocess`); ``'float'`` keeps the
    normalized ``float32 NCHW`` input for users who preprocess themselves;
    ``'image'`` (dynamic detection/segmentation, a test pipeline of one
    bilinear resize) also resizes inside, so the IR takes the decoded image
    as it is (within one grey level of cv2's resize). Recorded in
    ``deploy.json``'s ``input``. The ONNX file (``onnx``) is always the
    float form. None (the default): ``'uint8'``, except for a
    static detection/segmentation export, which is ``'float'``: its fixed
    input needs padding the graph cannot do for a varying image size, and
    padding the ``uint8`` image on the host cannot hit ``pad_value`` after
    normalization exactly (docs/deploy.md, "Input forms").

    ``model.xml`` carries ``rt_info['model_info']`` for OpenVINO Model API
    (:mod:`~mmlcnetv2.deploy.model_info`); ``model_api.xml``/``.bin`` is
    the self-contained form that takes the decoded image and gives the
    inferencer's results in Model API
    (:mod:`~mmlcnetv2.deploy.self_contained`; the ``uint8`` form with the
    NMS in the graph only). ``model_api``: None (the default) writes it
    wherever the export has that form, True requires it (refused where it
    has not), False leaves it out.

    ``max_drop`` (int8 only): quantize with NNCF's accuracy control so that
    the headline metric on the val set drops by at most this fraction
    (:mod:`~mmlcnetv2.deploy.accuracy_control`); None: plain PTQ.
    ``int8_options`` (int8 without ``max_drop``): keyword arguments of
    :func:`~mmlcnetv2.deploy.quantize.quantize_with_calibration`
    (``keep_float``, ``preset``) other than the task's defaults, for
    measuring the alternatives (``tools/analysis/measure_int8_drop.py``).

    ``nms`` (detection only): ``'graph'`` (what None gives) ends the IR in
    NMS; ``'host'`` ends it at the decoded candidates and leaves the NMS to
    :class:`~mmlcnetv2.deploy.OpenVINOInferencer`, for devices without
    ``NonMaxSuppression`` (:mod:`mmlcnetv2.deploy.tasks.detection`).

    Example:
        >>> export('configs/cls/pplcnetv2-base_8xb256_in1k.py', 'ckpt.pth',
        ...        'deploy/pplcnetv2-base', precision='f16')  # doctest: +SKIP

    Returns:
        dict: The ``deploy.json`` content.
    """
    precision = export_precision(precision)
    if input_form is not None and input_form not in INPUT_FORMS:
        raise ValueError(f'input_form must be one of {list(INPUT_FORMS)}, '
                         f'got {input_form!r}')
    if shape is not None and (len(shape) != 2 or min(shape) < 8):
        raise ValueError(f'shape must be (H, W) with both >= 8, got {shape}')
    writes = [META_FILE, 'model.xml', 'model.bin'] + (['model.onnx']
                                                       if onnx else [])
    writes += list(MODEL_API_FILES) if model_api is not False else []
    from .accuracy_control import check_max_drop
    check_max_drop(max_drop, precision)
    if int8_options and (precision != 'int8' or max_drop is not None):
        raise ValueError(f'int8_options {int8_options} set how plain int8 '
                         'quantizes: they need precision int8 without '
                         f'max_drop, got {precision}, max_drop {max_drop}')
    # Before the (minutes of) conversion: refuse a folder we must not touch.
    replaces = files_to_replace(out_dir, writes, overwrite)
    cfg, model, name = load_for_export(config, checkpoint, cfg_options)
    check_max_drop(max_drop, precision, cfg, name)
    task = configure_task(name, nms=nms)
    task.check_exportable(model)  # before tracing: one line naming why
    dynamic = task.default_dynamic if dynamic is None else dynamic
    if input_form is None:
        input_form = 'uint8' if dynamic or task.fixed_input_shape else \
            'float'
    preprocess, shape = export_preprocess(cfg, task, shape)
    if input_form == 'image':
        _check_graph_resize(task, dynamic, preprocess)
    wrapper = task.wrap(model)
    example = task.example_inputs(shape, 2 if dynamic else 1)
    meta = build_meta(cfg, model, task, shape, dynamic, precision, preprocess,
                      config, checkpoint, input_form)
    if model_api and unsupported(meta):
        raise ValueError(f'--model-api: {unsupported(meta)}')
    # By default, the self-contained form wherever there is one; where it
    # is not written, deploy.json says why.
    meta['model_api'] = model_api_record(meta, model_api)
    model_api = meta['model_api']['file'] is not None
    # Before the conversion: a value the config (or --cfg-options) gives
    # that the inferencer would refuse in deploy.json, e.g. a scale of -5.
    check_meta_to_write(meta, f'config {config!r}' + (
        ' with --cfg-options' if cfg_options else ''))
    ov_model, meta['conversion_check'] = convert_checked(
        wrapper, example, dynamic, task)
    if in_graph(meta):
        # Before quantization: calibration then feeds what the final IR
        # takes (pipeline.prepare follows deploy.json's input).
        ov_model = add_preprocessing(ov_model, preprocess, dynamic,
                                     resize=input_form == 'image')
    from ..utils.disk_full import reporting_full_disk
    # Outer: the temporary folder itself (an errno); inner: OpenVINO's
    # iostream error, asked while the partial files still fill the disk.
    with reporting_full_disk(out_dir, out_dir), \
            atomic_update(out_dir, replaces, last=META_FILE) as tmp, \
            reporting_full_disk(tmp, out_dir):
        _write_export(tmp, ov_model, meta, cfg, calib,
                      (wrapper, example) if onnx else None, max_drop,
                      model_api, int8_options or {})
        sizes = {n: osp.getsize(osp.join(tmp, n)) for n in meta['files']}
    check_in_place(out_dir, sizes)
    return meta


def check_in_place(out_dir: str, sizes: Dict[str, int]) -> None:
    """Fail unless every file of the export just written is in ``out_dir``
    with the size it was written with: another process may have removed or
    replaced one meanwhile, and an export missing ``model.bin`` must not be
    reported as written.

    Args:
        out_dir (str): The export folder.
        sizes (dict[str, int]): The size of each file written.

    Raises:
        RuntimeError: naming the folder and the first missing or changed
            file.
    """
    for name, size in sorted(sizes.items(), key=lambda kv: kv[0] == META_FILE):
        path = osp.join(out_dir, name)
        if not osp.isfile(path):
            why = 'is missing'
        elif osp.getsize(path) != size:
            why = f'has {osp.getsize(path)} bytes, not the {size} written'
        else:
            continue
        raise RuntimeError(
            f'Export {out_dir!r} is incomplete: {name!r} {why} after it was '
            'written (removed or replaced by another process?); do not use '
            'this folder, export again')


def model_api_record(meta: dict, requested: Optional[bool]) -> dict:
    """``deploy.json``'s ``model_api``: ``file`` (``model_api.xml``, or
    None where it is not written) and ``why_not`` (one line, or None).

    Args:
        meta: The export's ``deploy.json`` content so far.
        requested: ``export``'s ``model_api`` (None: wherever possible).
    """
    if requested is False:
        return dict(file=None, why_not='left out (--no-model-api)')
    why = unsupported(meta)
    if why:
        return dict(file=None, why_not=f'no self-contained form: it takes '
                    f'{why}')
    return dict(file=MODEL_API_FILES[0], why_not=None)


def _check_graph_resize(task, dynamic: bool, preprocess: dict) -> None:
    """``input_form='image'`` needs what the graph's resize takes: a
    dynamic IR (detection, segmentation) and a test pipeline that is one
    bilinear resize."""
    from .pipeline import graph_resize_step
    why = None
    if not dynamic:
        why = ('a static IR cannot follow the image size (dynamic '
               'detection and segmentation exports only)')
    why = why or graph_resize_step(preprocess['steps'])
    if why:
        raise ValueError(f'--input image: {why}; use --input uint8 (the '
                         'default: the host resizes)')


def _write_export(folder: str, ov_model, meta: dict, cfg: Config,
                  calib: int, onnx: Optional[Tuple[torch.nn.Module,
                                                   Tuple[torch.Tensor, ...]]],
                  max_drop: Optional[float] = None,
                  model_api: bool = False,
                  int8_options: Optional[dict] = None) -> None:
    """Write the IR (quantized first for int8; with ``max_drop``, under
    NNCF's accuracy control) with its Model API ``model_info``, the
    self-contained Model API IR (``model_api``), the ONNX file (if
    ``onnx`` gives the wrapper and its tracing inputs) and ``deploy.json``
    into ``folder``; ``meta``
    gains ``calibration`` / ``onnx_max_abs_diff``."""
    import openvino as ov
    task = get_task(meta['task'])
    if meta['precision'] == 'int8' and max_drop is not None:
        from .accuracy_control import quantize_with_max_drop
        ov_model, meta['calibration'] = quantize_with_max_drop(
            ov_model, cfg, meta, calib, max_drop)
    elif meta['precision'] == 'int8':
        from .quantize import quantize_with_calibration
        ov_model, meta['calibration'] = quantize_with_calibration(
            ov_model, cfg, meta, calib, **(int8_options or {}))
    write_model_info(ov_model, model_info(meta, self_contained=False))
    # After quantization, which builds a new model: the count it records.
    mark_num_classes(ov_model, len(meta['classes']))
    ov.save_model(ov_model, osp.join(folder, 'model.xml'),
                  compress_to_fp16=(meta['precision'] == 'f16'))
    if model_api:
        ov.save_model(self_contained_model(ov_model, meta),
                      osp.join(folder, MODEL_API_FILES[0]),
                      compress_to_fp16=(meta['precision'] == 'f16'))
    if onnx is not None:
        wrapper, example = onnx
        path = osp.join(folder, 'model.onnx')
        # meta's outputs, not the task's defaults: an export option may
        # change them (detection's nms='host').
        export_onnx(wrapper, example, path, meta['input']['dynamic'],
                    meta['outputs'], task.input_names)
        meta['onnx_max_abs_diff'] = check_onnx(path, wrapper, example,
                                               task.input_names)
    save_meta(meta, osp.join(folder, META_FILE))
