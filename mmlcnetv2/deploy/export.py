# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""Config + checkpoint -> OpenVINO IR (+ ONNX) + ``deploy.json``.

Why ``openvino.convert_model`` on the torch module (TorchScript tracing
inside OpenVINO's PyTorch frontend) rather than ONNX -> OpenVINO: it keeps
``torchvision.ops.batched_nms`` as one ``NonMaxSuppression`` op that returns
no rows on empty input (the legacy ONNX route returns a bogus row), and the
pooling needs no ONNX ``Shape/Gather/Concat/Reshape`` arithmetic, so the CPU
plugin fuses each SE block into one ``Subgraph`` (see
:func:`~mmlcnetv2.deploy.wrappers.use_mean_pooling`).
"""
import os
import os.path as osp
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm

from ..apis.build import build_model, load_config, reparameterize
from ..apis.checks import UserInputError
from ..utils.atomic import atomic_update
from .meta import (FORMAT_VERSION, class_names, default_shape,
                   preprocess_spec, register_scope, rescale_steps, save_meta, task_of)
from .schema import META_FILE, DeployFormatError, owned_files
from .wrappers import use_mean_pooling, wrap_for_export

PRECISIONS = ('fp32', 'fp16', 'int8')
OUTPUT_NAMES = dict(classification=['logits'], detection=['dets', 'labels'],
                    segmentation=['seg_logits'])
INPUT_NAMES = dict(classification=['input'], detection=['input', 'img_shape'],
                   segmentation=['input'])
# What a static detection/segmentation export gives up, in deploy.json.
STATIC_TRADE = (
    'static input: every image is resized to fit {h}x{w} and padded to '
    '{h}x{w}, where the test pipeline pads only to the size divisor; the '
    'network (its global pools, FPN, head) sees that padding, so results '
    'equal torch only on images whose padded size is {h}x{w}; export '
    'without --static for the exact form (docs/deploy.md, "Static or '
    'dynamic")')


def default_dynamic(task: str) -> bool:
    """Whether ``task`` exports with dynamic shapes unless told otherwise.

    Detection and segmentation: yes. Their test pipelines resize with
    ``keep_ratio`` and pad to a size divisor, so the input shape follows
    each image's aspect ratio, which a fixed graph input cannot.
    Classification ends in a centre crop: one fixed shape, static is exact
    (and faster: OpenVINO fuses more with static shapes).
    """
    return task != 'classification'


def load_for_export(config: str, checkpoint: Optional[str],
                    cfg_options: Optional[dict] = None
                    ) -> Tuple[Config, torch.nn.Module, str]:
    """Build the config's model with the checkpoint, fused, in eval mode.

    Raises:
        RuntimeError: the checkpoint does not fit the config (names the
            config and checkpoint; strict loading's message follows).
    """
    cfg = load_config(config, cfg_options)
    task = task_of(cfg)
    register_scope(cfg)
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
    model = revert_sync_batchnorm(model)
    reparameterize(model)
    use_mean_pooling(model)
    return cfg, model.eval(), task


def build_meta(cfg: Config, model: torch.nn.Module, task: str,
               shape: Tuple[int, int], dynamic: bool, precision: str,
               steps: List[dict], config: str, checkpoint: str) -> dict:
    pre = preprocess_spec(cfg, task)
    pre['steps'] = steps
    postprocess = None
    if task == 'segmentation':
        head = model.decode_head
        postprocess = dict(
            align_corners=bool(head.align_corners),
            threshold=float(getattr(head, 'threshold', None) or 0.3)
            if head.out_channels == 1 else None)
    if task == 'classification':
        num_classes = model.head.num_classes
        score_thr = None
    elif task == 'detection':
        num_classes = model.bbox_head.num_classes
        score_thr = float(model.bbox_head.test_cfg.get('score_thr', 0.0))
    else:
        num_classes = model.decode_head.num_classes
        score_thr = None
    inputs = dict(name='input', shape=[-1, 3, -1, -1] if dynamic else
                  [1, 3, shape[0], shape[1]], dynamic=dynamic,
                  export_size=list(shape), layout='NCHW', dtype='float32')
    if not dynamic and task != 'classification':
        inputs['static_trade'] = STATIC_TRADE.format(h=shape[0], w=shape[1])
    return dict(
        format_version=FORMAT_VERSION,
        task=task,
        input=inputs,
        input_names=INPUT_NAMES[task],
        outputs=OUTPUT_NAMES[task],
        postprocess=postprocess,
        preprocess=pre,
        classes=class_names(cfg, num_classes),
        score_threshold=score_thr,
        max_per_img=int(model.bbox_head.test_cfg['max_per_img'])
        if task == 'detection' else None,
        precision=precision,
        source=dict(config=osp.abspath(config),
                    checkpoint=osp.abspath(checkpoint) if checkpoint else None),
    )


def example_inputs(task: str, shape: Tuple[int, int],
                   batch: int) -> Tuple[torch.Tensor, ...]:
    """The tracing inputs: a seeded image batch (+ ``img_shape``)."""
    x = torch.randn(batch, 3, *shape,
                    generator=torch.Generator().manual_seed(0))
    if task != 'detection':
        return (x, )
    return x, torch.tensor([list(shape)] * batch, dtype=torch.float32)


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
    entries = os.listdir(out_dir)
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
           precision: str = 'fp32',
           calib: int = 300,
           onnx: bool = False,
           cfg_options: Optional[dict] = None,
           overwrite: bool = True,
           max_drop: Optional[float] = None) -> dict:
    """Export a config + checkpoint to ``out_dir``; see ``tools/deploy.py``.

    ``out_dir`` must be missing, empty or a previous export (see
    :func:`files_to_replace`); of a previous export only the files it lists
    in ``deploy.json`` are replaced, other files stay. Everything is written
    into a temporary folder first and moved into place at the end, so a
    failed export leaves ``out_dir`` as it was.

    ``dynamic=None`` (the default) picks :func:`default_dynamic`: dynamic
    for detection and segmentation (exact: the input follows each image's
    padded shape, as in mmdet/mmseg), static for classification.

    ``max_drop`` (int8 only): quantize with NNCF's accuracy control so that
    the headline metric on the val set drops by at most this fraction
    (:mod:`~mmlcnetv2.deploy.accuracy_control`); None: plain PTQ.

    Example:
        >>> export('configs/cls/pplcnetv2-base_8xb256_in1k.py', 'ckpt.pth',
        ...        'deploy/pplcnetv2-base', precision='fp16')  # doctest: +SKIP

    Returns:
        dict: The ``deploy.json`` content.
    """
    import openvino as ov
    if precision not in PRECISIONS:
        raise ValueError(f'precision must be one of {PRECISIONS}, got '
                         f'{precision!r}')
    if shape is not None and (len(shape) != 2 or min(shape) < 8):
        raise ValueError(f'shape must be (H, W) with both >= 8, got {shape}')
    writes = [META_FILE, 'model.xml', 'model.bin'] + (['model.onnx']
                                                       if onnx else [])
    from .accuracy_control import check_max_drop
    check_max_drop(max_drop, precision)
    # Before the (minutes of) conversion: refuse a folder we must not touch.
    replaces = files_to_replace(out_dir, writes, overwrite)
    cfg, model, task = load_for_export(config, checkpoint, cfg_options)
    check_max_drop(max_drop, precision, cfg, task)
    if dynamic is None:
        dynamic = default_dynamic(task)
    steps = preprocess_spec(cfg, task)['steps']
    if shape is None:
        shape = default_shape(steps, task)
        if shape is None:
            raise ValueError('The test pipeline fixes no input size; pass '
                             '--shape H W.')
    else:
        steps = rescale_steps(steps, tuple(shape), task)
    shape = tuple(int(s) for s in shape)
    wrapper = wrap_for_export(model, task)
    names, input_names = OUTPUT_NAMES[task], INPUT_NAMES[task]
    example = example_inputs(task, shape, 2 if dynamic else 1)
    meta = build_meta(cfg, model, task, shape, dynamic, precision, steps,
                      config, checkpoint)
    ov_model = convert(wrapper, example, dynamic, names, input_names)

    with atomic_update(out_dir, replaces, last=META_FILE) as tmp:
        if precision == 'int8' and max_drop is not None:
            from .accuracy_control import quantize_with_max_drop
            ov_model, meta['calibration'] = quantize_with_max_drop(
                ov_model, cfg, meta, calib, max_drop)
        elif precision == 'int8':
            from .quantize import quantize_int8
            ov_model, meta['calibration'] = quantize_int8(
                ov_model, cfg, meta, calib)
        ov.save_model(ov_model, osp.join(tmp, 'model.xml'),
                      compress_to_fp16=(precision == 'fp16'))
        if onnx:
            onnx_path = osp.join(tmp, 'model.onnx')
            export_onnx(wrapper, example, onnx_path, dynamic, names,
                        input_names)
            meta['onnx_max_abs_diff'] = check_onnx(onnx_path, wrapper,
                                                   example, input_names)
        save_meta(meta, osp.join(tmp, 'deploy.json'))
    return meta
