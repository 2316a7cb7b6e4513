# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""What export, inference, evaluation and drawing ask of a task.

One subclass per task (:mod:`.classification`, :mod:`.detection`,
:mod:`.segmentation`), like mmdeploy's ``BaseTask``: the export graph, its
input and output names, the ``deploy.json`` fields the task adds, how a
requested input size rescales the test pipeline, how the IR's outputs
become results, the OpenMMLab data sample the config's evaluator takes,
how two exports' results agree, and how a result is summarized and drawn.
The orchestration (:mod:`~mmlcnetv2.deploy.exporting`,
:mod:`~mmlcnetv2.deploy.runtime.inferencer`,
:mod:`~mmlcnetv2.deploy.runtime.evaluate`,
:mod:`~mmlcnetv2.deploy.exporting.quantize`, ``tools/infer.py``) asks the task
object and never switches on the task's name.
"""
from abc import ABC, abstractmethod
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn

from ..preprocess import spec


class DeployTask(ABC):
    """The base of the deployment tasks; subclasses set the class
    attributes and implement the abstract methods.

    Attributes:
        name (str): The task's name in ``deploy.json`` (one of
            :data:`mmlcnetv2.names.TASKS`).
        scope (str): The ``default_scope`` of its configs.
        model_kind (str): What the scope builds, for messages.
        input_names (tuple): The IR's inputs.
        output_names (tuple): The IR's outputs, as exports write them.
        legacy_outputs (tuple): Output names of earlier exports that the
            inferencer still reads.
        fixed_input_shape (bool): The test pipeline ends in one fixed size
            (a centre crop), so a static IR is exact and the default.
            Otherwise the input follows each image's aspect ratio: dynamic
            by default, and a static export trades parity for speed
            (``deploy.json``: ``input.static_trade``).
        whole_test_set (str, optional): Why evaluation cannot stop early
            (the evaluator scores every image of its annotation file), or
            None where it can.
        metric (tuple): The headline metric: the evaluator type that
            reports it, its key in the evaluator's results, and the scale
            that makes it a fraction (mmpretrain and mmseg report percent,
            mmdet fractions), so that ``--max-drop 0.01`` is one point
            everywhere.
        model_api_type (str): The OpenVINO Model API wrapper that runs its
            self-contained IR, ``model_api.xml``
            (``rt_info['model_info']['model_type']``).
        int8_float_from (tuple): Modules of the export wrapper (``wrap``)
            that int8 keeps float, with every op after them
            (:func:`mmlcnetv2.deploy.exporting.quantize.float_tail`).
        export_options (dict): The task's own export options
            (``tools/deploy.py`` flags): name -> allowed values, the
            default first; :meth:`with_options` applies them.
    """

    name: str = ''
    scope: str = ''
    model_kind: str = ''
    input_names: Tuple[str, ...] = ('input', )
    output_names: Tuple[str, ...] = ()
    legacy_outputs: Tuple[Tuple[str, ...], ...] = ()
    fixed_input_shape: bool = False
    whole_test_set: Optional[str] = None
    metric: Tuple[str, str, float] = ('', '', 1.0)
    export_options: Dict[str, Tuple[str, ...]] = {}
    model_api_type: str = ''
    int8_float_from: Tuple[str, ...] = ()

    @property
    def default_dynamic(self) -> bool:
        """Whether exports have dynamic shapes unless told otherwise."""
        return not self.fixed_input_shape

    @property
    def accepted_outputs(self) -> List[List[str]]:
        """Every output-name list a ``deploy.json`` of this task may have."""
        return [list(o) for o in self.legacy_outputs] + [
            list(self.output_names)]

    def matches(self, cfg) -> bool:
        """Whether ``cfg`` (an mmengine ``Config``) is a config of this
        task: here, its ``default_scope`` is :attr:`scope`.

        :func:`~mmlcnetv2.deploy.tasks.task_of` asks the tasks of
        :data:`~mmlcnetv2.deploy.tasks.TASKS` in order; a task that shares
        a scope with another (instance segmentation and detection both live
        in mmdet) narrows this, e.g. by the model's heads, and comes before
        the broader one in the table.
        """
        return cfg.get('default_scope', None) == self.scope

    # ---- export -----------------------------------------------------------
    def with_options(self, **options: str) -> 'DeployTask':
        """The task of an export made with ``options`` (checked against
        :attr:`export_options` by :func:`~mmlcnetv2.deploy.tasks.
        configure_task`): a configured copy whose :meth:`wrap`,
        :attr:`output_names` and :meth:`meta_fields` follow them. Tasks
        without options are returned as they are."""
        if options:
            raise ValueError(f'a {self.name} export takes no options, got '
                             f'{sorted(options)}')
        return self

    def check_exportable(self, model: nn.Module) -> None:
        """Refuse, before anything is traced, a model whose export graph
        would not give the OpenMMLab results: here, a layer that runs an
        mmcv compiled kernel (:mod:`.traceable`); tasks add their own
        refusals (and :meth:`wrap` refuses what it cannot wrap).

        Raises:
            UnsupportedModelError: one line naming the model and the part.
        """
        from ...errors import UnsupportedModelError
        from .traceable import untraceable_layer
        found = untraceable_layer(model)
        if found is not None:
            raise UnsupportedModelError(
                f'{type(model).__name__} does not export: {found[0]} is '
                f'{found[1]}, an mmcv compiled op that the converter cannot '
                'trace (deformable convs and the like); exports: models '
                'of plain torch layers')

    @abstractmethod
    def wrap(self, model: nn.Module) -> nn.Module:
        """The export graph around a built, eval-mode ``model``."""
        raise NotImplementedError

    @abstractmethod
    def num_classes(self, model: nn.Module) -> int:
        """The model's class count (``deploy.json``: one name each)."""
        raise NotImplementedError

    def meta_fields(self, model: nn.Module) -> Dict:
        """``deploy.json``'s task-dependent fields: ``postprocess``,
        ``score_threshold`` and ``max_per_img`` (None where unused)."""
        return dict(postprocess=None, score_threshold=None, max_per_img=None)

    def pad_size_divisor(self, data_preprocessor: dict) -> int:
        """What test images are padded to a multiple of (0: no padding)."""
        return int(data_preprocessor.get('pad_size_divisor', 0) or 0)

    def rescale_steps(self, steps: List[dict],
                      shape: Tuple[int, int]) -> List[dict]:
        """The test-pipeline steps for a requested input ``shape`` (h, w):
        resizes fit the image into it."""
        return spec.rescale_fit(steps, shape)

    def example_inputs(self, shape: Tuple[int, int],
                       batch: int) -> Tuple[torch.Tensor, ...]:
        """The tracing inputs: a seeded image batch (and the task's extra
        inputs)."""
        x = torch.randn(batch, 3, *shape,
                        generator=torch.Generator().manual_seed(0))
        return (x, )

    def conversion_check(self, wrapper: nn.Module,
                         example: Tuple[torch.Tensor, ...],
                         out: List[np.ndarray]) -> Dict:
        """The IR's outputs ``out`` on the tracing input ``example``
        against what they must be: ``ok``, ``max_abs_diff`` and a one-line
        ``summary``. Here: against the torch ``wrapper``'s outputs, every
        output within ``1e-3`` of its largest magnitude (at least 1); f32
        OpenVINO vs torch is ~1e-5. (A task whose wrapper re-implements a
        library's post-processing compares with the library's own, e.g.
        detection.)"""
        with torch.no_grad():
            ref = wrapper(*example)
        ref = [r.numpy() for r in (ref if isinstance(ref, tuple) else
                                   (ref, ))]
        diff = max(float(np.abs(o.astype(np.float64) - r).max())
                   for o, r in zip(out, ref))
        scale = max([1.0] + [float(np.abs(r).max()) for r in ref])
        return dict(ok=diff <= 1e-3 * scale, max_abs_diff=diff,
                    summary=f'max |IR - torch| {diff:.3g} on the example '
                    f'input (outputs up to {scale:.3g})')

    def check_meta(self, meta: Dict, path: str) -> None:
        """Fail (``DeployFormatError`` naming ``path`` and the field) when
        the task's own ``deploy.json`` fields are bad; called when the file
        is read, after the common fields are checked."""

    # ---- OpenVINO Model API (mmlcnetv2.deploy.model_api) -------------------
    def model_api_fields(self, meta: Dict) -> Dict[str, str]:
        """The task's own ``rt_info['model_info']`` keys (strings)."""
        return {}

    def model_api_unsupported(self, meta: Dict) -> str:
        """Why the export ``meta`` has no self-contained Model API form
        (:mod:`~mmlcnetv2.deploy.model_api.self_contained`), or ``''``."""
        return ''

    def model_api_outputs(self, outputs: list, resized_hw, image_hw,
                          meta: Dict) -> list:
        """The self-contained IR's outputs from the network's: what the
        inferencer's :meth:`postprocess` does that Model API does not, as
        OpenVINO ops.

        Args:
            outputs: The network's outputs (``ov.Output``).
            resized_hw: ``f32 [2]``: the network input's ``(h, w)`` before
                padding.
            image_hw: ``f32 [2]``: the image's ``(h, w)``.
            meta: ``deploy.json``.
        """
        return outputs

    # ---- inference --------------------------------------------------------
    def ir_num_classes(self, compiled) -> Optional[int]:
        """The class count the IR's output shapes give (an IR without the
        count :func:`~mmlcnetv2.deploy.manifest.schema.mark_num_classes`
        records:
        exports before it), or None where they do not give it."""
        return None

    @abstractmethod
    def postprocess(self, outputs: List[np.ndarray], info: Dict, index: int,
                    meta: Dict, path: str) -> Dict:
        """The IR outputs of image ``index`` of a batch -> its result in
        original-image coordinates (see ``OpenVINOInferencer``).

        Args:
            outputs: The IR's outputs, batched.
            info: The image's :func:`~mmlcnetv2.deploy.preprocess.host.
                prepare` result.
            index: The image's index in the batch.
            meta: ``deploy.json``.
            path: ``deploy.json``'s path, for messages.
        """
        raise NotImplementedError

    # ---- evaluation -------------------------------------------------------
    @abstractmethod
    def to_data_sample(self, sample, result: Dict) -> None:
        """Write ``result`` into a packed OpenMMLab data sample, as the torch
        model's ``predict`` would."""
        raise NotImplementedError

    @abstractmethod
    def agreement(self, a: Dict, b: Dict) -> np.ndarray:
        """Per-image agreement (0..1) of two results of the same image."""
        raise NotImplementedError

    # ---- tools/infer.py ---------------------------------------------------
    @abstractmethod
    def summarize(self, result: Dict, classes: Sequence[str],
                  score_thr: float) -> Dict:
        """The JSON-friendly record of one result (``--out-json``)."""
        raise NotImplementedError

    @abstractmethod
    def one_line(self, record: Dict, score_thr: float) -> str:
        """The console line of one image's record."""
        raise NotImplementedError

    def single_image_text(self, result: Dict,
                          classes: Sequence[str]) -> Optional[str]:
        """What to print instead of :meth:`one_line` when there is only one
        image; None: the line."""
        return None

    @abstractmethod
    def draw(self, img: np.ndarray, result: Dict, classes: Sequence[str],
             score_thr: float) -> np.ndarray:
        """The result drawn on a copy of the BGR image."""
        raise NotImplementedError


def palette(n: int) -> np.ndarray:
    """``n`` bright BGR colours, the same on every run."""
    rng = np.random.default_rng(42)
    return rng.integers(40, 256, (max(n, 1), 3), dtype=np.uint8)
