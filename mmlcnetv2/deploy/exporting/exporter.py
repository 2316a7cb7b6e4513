# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""Config + checkpoint -> OpenVINO IR (+ ONNX) + ``deploy.json``, in named
phases: :meth:`Exporter.__call__` is the one place that says their order.

What is task-specific (the export graph, its names, the ``deploy.json``
fields) is asked of the task object (:mod:`mmlcnetv2.deploy.tasks`); the
preprocessing part of ``deploy.json`` is :mod:`mmlcnetv2.deploy.preprocess`'s.
"""
import os.path as osp
from typing import Dict, List, Optional, Tuple

import torch
from mmengine.config import Config

from ...utils.atomic import atomic_update
from ...utils.disk_full import reporting_full_disk
from ..manifest.build import build_meta, finish_meta
from ..manifest.schema import (META_FILE, check_meta_to_write,
                               mark_num_classes)
from ..model_api.rt_info import MODEL_API_FILES, model_info, write_model_info
from ..model_api.self_contained import self_contained_model
from ..preprocess.graph import add_preprocessing
from ..preprocess.spec import export_preprocess, graph_resize_step, in_graph
from ..tasks import DeployTask, configure_task
from .accuracy_control import check_max_drop
from .conversion import check_onnx, convert_checked, export_onnx
from .folder import check_in_place, files_to_replace
from .load import load_for_export
from .options import ExportOptions


class Exporter:
    """Exports a config + checkpoint to a folder (``tools/deploy.py``).

    The folder must be missing, empty or a previous export (see
    :func:`~mmlcnetv2.deploy.exporting.folder.files_to_replace`); of a
    previous export only the files it lists in ``deploy.json`` are
    replaced, other files stay. Everything is written into a temporary
    folder first and moved into place at the end, so a failed export leaves
    the folder as it was.

    Args:
        options (ExportOptions): What to make (checked when it was made).

    Example:
        >>> Exporter(ExportOptions(precision='f16'))(
        ...     'configs/cls/pplcnetv2-base_8xb256_in1k.py', 'ckpt.pth',
        ...     'deploy/pplcnetv2-base')  # doctest: +SKIP
    """

    def __init__(self, options: Optional[ExportOptions] = None) -> None:
        self.options = options or ExportOptions()

    def __call__(self, config: str, checkpoint: Optional[str],
                 out_dir: str) -> dict:
        """Run the phases in order; returns the ``deploy.json`` content.

        ``deploy.json`` is built once (phase 5, checked as the inferencer
        will read it, before the minutes of conversion) and finished once
        (phase 9, with what phases 6, 8 and 9 measured).
        """
        opts = self.options
        # 0. The folder: refuse one we must not touch, before any work.
        replaces = files_to_replace(out_dir, opts.files, opts.overwrite)
        # 1. Load: the config's model with the checkpoint, fused.
        cfg, model, name = load_for_export(config, checkpoint,
                                           opts.cfg_options)
        # 2. Task: the task object with its options; what it refuses.
        task = self.task(cfg, model, name)
        dynamic = task.default_dynamic if opts.dynamic is None \
            else opts.dynamic
        input_form = opts.input_form or (
            'uint8' if dynamic or task.fixed_input_shape else 'float')
        # 3. Preprocessing spec: deploy.json's preprocess, the input size.
        preprocess, shape = self.preprocessing(cfg, task, dynamic,
                                               input_form)
        # 4. Wrap: the task's export graph and its tracing inputs.
        wrapper = task.wrap(model)
        example = task.example_inputs(shape, 2 if dynamic else 1)
        # 5. Manifest: deploy.json built once, checked before conversion.
        meta = self.manifest((config, checkpoint), cfg, model, task, shape,
                             dynamic, preprocess, input_form)
        # 6. Convert + check: the IR against the task's reference.
        ov_model, conversion_check = convert_checked(wrapper, example,
                                                     dynamic, task)
        # 7. In-graph preprocessing: before quantization, so calibration
        #    feeds what the final IR takes (preprocess.host.prepare follows
        #    meta).
        if in_graph(meta):
            ov_model = add_preprocessing(ov_model, preprocess, dynamic,
                                         resize=input_form == 'image')
        # 8. Quantize (int8 only).
        ov_model, calibration = self.quantize(ov_model, cfg, meta)
        # 9. Write: the IRs, ONNX, deploy.json finished last; atomically.
        return self.write(out_dir, replaces, ov_model, meta,
                          (wrapper, example),
                          conversion_check=conversion_check,
                          calibration=calibration)

    # ---- the phases ---------------------------------------------------
    def task(self, cfg: Config, model: torch.nn.Module,
             name: str) -> DeployTask:
        """Phase 2: the task ``name`` configured with the task options
        (``nms``); refuses a ``max_drop`` the config cannot measure and,
        before tracing, a model the task cannot export."""
        check_max_drop(self.options.max_drop, cfg, name)
        task = configure_task(name, nms=self.options.nms)
        task.check_exportable(model)  # before tracing: one line naming why
        return task

    def preprocessing(self, cfg: Config, task: DeployTask, dynamic: bool,
                      input_form: str) -> Tuple[dict, Tuple[int, int]]:
        """Phase 3: ``deploy.json``'s ``preprocess`` (from the test
        pipeline and data preprocessor) and the IR's input size (h, w).

        Raises:
            ValueError: a test pipeline without a deployment meaning, or
                ``input_form='image'`` where the graph cannot resize: it
                needs a dynamic IR and a test pipeline that is one
                bilinear resize.
        """
        preprocess, shape = export_preprocess(cfg, task, self.options.shape)
        if input_form == 'image':
            why = None if dynamic else (
                'a static IR cannot follow the image size (dynamic '
                'detection and segmentation exports only)')
            why = why or graph_resize_step(preprocess['steps'])
            if why:
                raise ValueError(f'--input image: {why}; use --input uint8 '
                                 '(the default: the host resizes)')
        return preprocess, shape

    def manifest(self, source: Tuple[str, Optional[str]], cfg: Config,
                 model: torch.nn.Module,
                 task: DeployTask, shape: Tuple[int, int], dynamic: bool,
                 preprocess: dict, input_form: str) -> dict:
        """Phase 5: ``deploy.json`` as known before the conversion
        (:func:`~mmlcnetv2.deploy.manifest.build.build_meta`), refused now
        if the inferencer would refuse it (e.g. a config's scale of -5)."""
        opts = self.options
        config, checkpoint = source
        meta = build_meta(cfg, model, task, shape, dynamic, opts.precision,
                          preprocess, config, checkpoint, input_form,
                          opts.model_api)
        check_meta_to_write(meta, f'config {config!r}' + (
            ' with --cfg-options' if opts.cfg_options else ''))
        return meta

    def quantize(self, ov_model, cfg: Config, meta: dict
                 ) -> Tuple[object, Optional[dict]]:
        """Phase 8: int8 with NNCF on train images prepared as inference
        prepares them (``max_drop``: under NNCF's accuracy control on the
        val set); other precisions pass through. Returns the model and
        ``deploy.json``'s ``calibration`` (None: not quantized)."""
        opts = self.options
        if opts.precision != 'int8':
            return ov_model, None
        if opts.max_drop is not None:
            from .accuracy_control import quantize_with_max_drop
            return quantize_with_max_drop(ov_model, cfg, meta, opts.calib,
                                          opts.max_drop)
        from .quantize import quantize_with_calibration
        return quantize_with_calibration(ov_model, cfg, meta, opts.calib,
                                         **(opts.int8_options or {}))

    def write(self, out_dir: str, replaces: List[str], ov_model, meta: dict,
              traced: Tuple[torch.nn.Module, Tuple[torch.Tensor, ...]],
              **measured) -> dict:
        """Phase 9: ``model.xml``/``.bin`` with Model API's ``model_info``,
        ``model_api.xml`` (where ``meta`` records it), ``model.onnx``
        (``onnx``: ``traced`` is the wrapper and its tracing inputs) and,
        last, ``deploy.json`` finished with ``measured``, into a temporary
        folder that replaces ``replaces`` only when complete."""
        # Outer: the temporary folder itself (an errno); inner: OpenVINO's
        # iostream error, asked while the partial files still fill the disk.
        with reporting_full_disk(out_dir, out_dir), \
                atomic_update(out_dir, replaces, last=META_FILE) as tmp, \
                reporting_full_disk(tmp, out_dir):
            self._save_irs(tmp, ov_model, meta)
            if self.options.onnx:
                measured['onnx_max_abs_diff'] = self._save_onnx(
                    tmp, meta, *traced)
            finish_meta(meta, osp.join(tmp, META_FILE), **measured)
            sizes = {n: osp.getsize(osp.join(tmp, n)) for n in meta['files']}
        check_in_place(out_dir, sizes)
        return meta

    # ---- helpers of the phases ----------------------------------------
    def _save_irs(self, folder: str, ov_model, meta: dict) -> None:
        import openvino as ov
        compress = meta['precision'] == 'f16'
        write_model_info(ov_model, model_info(meta, self_contained=False))
        # After quantization, which builds a new model: the count it records.
        mark_num_classes(ov_model, len(meta['classes']))
        ov.save_model(ov_model, osp.join(folder, 'model.xml'),
                      compress_to_fp16=compress)
        if meta['model_api']['file'] is not None:
            ov.save_model(self_contained_model(ov_model, meta),
                          osp.join(folder, MODEL_API_FILES[0]),
                          compress_to_fp16=compress)

    @staticmethod
    def _save_onnx(folder: str, meta: dict, wrapper: torch.nn.Module,
                   example: Tuple[torch.Tensor, ...]) -> float:
        path = osp.join(folder, 'model.onnx')
        # meta's outputs, not the task's defaults: an export option may
        # change them (detection's nms='host').
        export_onnx(wrapper, example, path, meta['input']['dynamic'],
                    meta['outputs'], meta['input_names'])
        return check_onnx(path, wrapper, example, meta['input_names'])


def export(config: str, checkpoint: Optional[str], out_dir: str,
           **options) -> Dict:
    """Export ``config`` + ``checkpoint`` to ``out_dir``: ``Exporter(
    ExportOptions(**options))(config, checkpoint, out_dir)``.

    Args:
        config (str): The config file.
        checkpoint (str, optional): Its checkpoint (None: the config's
            initial weights).
        out_dir (str): The export folder.
        **options: :class:`ExportOptions`' fields (``shape``, ``dynamic``,
            ``precision``, ``calib``, ``onnx``, ``cfg_options``,
            ``overwrite``, ``max_drop``, ``nms``, ``input_form``,
            ``model_api``, ``int8_options``).

    Example:
        >>> export('configs/cls/pplcnetv2-base_8xb256_in1k.py', 'ckpt.pth',
        ...        'deploy/pplcnetv2-base', precision='f16')  # doctest: +SKIP

    Returns:
        dict: The ``deploy.json`` content.
    """
    return Exporter(ExportOptions(**options))(config, checkpoint, out_dir)
