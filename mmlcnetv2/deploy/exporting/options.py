# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""What an export is asked to make: :class:`ExportOptions`, the settings
of ``tools/deploy.py`` as one value, checked when it is made."""
from dataclasses import dataclass
from typing import List, Optional, Tuple

from ...names import EXPORT_PRECISIONS, INPUT_FORMS, export_precision
from ..manifest.schema import META_FILE
from ..model_api.rt_info import MODEL_API_FILES
from .accuracy_control import check_max_drop_value

PRECISIONS = EXPORT_PRECISIONS  # (re-exported: mmlcnetv2.deploy.PRECISIONS)


@dataclass(frozen=True)
class ExportOptions:
    """The settings of one export (``tools/deploy.py``'s flags).

    Values that are wrong whatever the config are refused here, when the
    options are made; what depends on the config is checked by the
    :class:`~mmlcnetv2.deploy.exporting.Exporter`'s phases.

    Attributes:
        shape (tuple, optional): The input size ``(H, W)``, both >= 8; the
            test pipeline's steps are rescaled to it by the task's rule.
            None: the size the test pipeline produces.
        dynamic (bool, optional): Dynamic batch, height and width. None:
            the task's default (dynamic for detection and segmentation,
            whose input follows each image's padded shape; static for
            classification, which ends in a centre crop).
        precision (str): One of :data:`PRECISIONS` (``f32``, ``f16``,
            ``int8``; the earlier spellings ``fp32``/``fp16`` are accepted
            and stored in the new spelling).
        calib (int): Train images that calibrate int8.
        onnx (bool): Also write ``model.onnx`` (always the float input
            form), checked in onnxruntime.
        cfg_options (dict, optional): ``--cfg-options`` for the config.
        overwrite (bool): Allow replacing a previous export in the folder.
        max_drop (float, optional): int8 only: quantize with NNCF's accuracy
            control so that the headline metric on the val set drops by at
            most this fraction
            (:mod:`~mmlcnetv2.deploy.exporting.accuracy_control`);
            None: plain post-training quantization.
        nms (str, optional): Detection only: ``'graph'`` (what None gives)
            ends the IR in NMS; ``'host'`` ends it at the decoded
            candidates and leaves the NMS to the inferencer, for devices
            without ``NonMaxSuppression``.
        input_form (str, optional): One of
            :data:`~mmlcnetv2.names.INPUT_FORMS`. ``'uint8'`` builds the
            colour order, normalization, layout and (dynamic IRs) padding
            into the IR, which then takes the resized ``uint8`` BGR image
            ``NHWC`` (:mod:`~mmlcnetv2.deploy.preprocess.graph`);
            ``'float'`` keeps the normalized ``float32 NCHW`` input;
            ``'image'`` (dynamic detection/segmentation, a test pipeline of
            one bilinear resize) also resizes inside. None: ``'uint8'``,
            except for a static detection/segmentation export, which is
            ``'float'`` (docs/deploy.md, "Input forms").
        model_api (bool, optional): The self-contained Model API IR
            ``model_api.xml``
            (:mod:`~mmlcnetv2.deploy.model_api.self_contained`):
            None writes it wherever the export has that form, True requires
            it, False leaves it out.
        int8_options (dict, optional): int8 without ``max_drop``: keyword
            arguments of
            :func:`~mmlcnetv2.deploy.exporting.quantize.quantize_with_calibration`
            (``keep_float``, ``preset``) other than the task's defaults.

    Raises:
        ValueError: a value no export can honour, named with what is
            allowed.
    """

    shape: Optional[Tuple[int, int]] = None
    dynamic: Optional[bool] = None
    precision: str = 'f32'
    calib: int = 300
    onnx: bool = False
    cfg_options: Optional[dict] = None
    overwrite: bool = True
    max_drop: Optional[float] = None
    nms: Optional[str] = None
    input_form: Optional[str] = None
    model_api: Optional[bool] = None
    int8_options: Optional[dict] = None

    def __post_init__(self) -> None:
        # frozen: the one normalization goes through object.__setattr__.
        object.__setattr__(self, 'precision',
                           export_precision(self.precision))
        if self.input_form is not None and \
                self.input_form not in INPUT_FORMS:
            raise ValueError(f'input_form must be one of '
                             f'{list(INPUT_FORMS)}, got {self.input_form!r}')
        if self.shape is not None and (len(self.shape) != 2
                                       or min(self.shape) < 8):
            raise ValueError(f'shape must be (H, W) with both >= 8, got '
                             f'{self.shape}')
        check_max_drop_value(self.max_drop, self.precision)
        if self.int8_options and (self.precision != 'int8'
                                  or self.max_drop is not None):
            raise ValueError(
                f'int8_options {self.int8_options} set how plain int8 '
                'quantizes: they need precision int8 without max_drop, got '
                f'{self.precision}, max_drop {self.max_drop}')

    @property
    def files(self) -> List[str]:
        """The file names the export may write (the Model API pair unless
        ``model_api`` is False): what it may replace of an earlier one."""
        files = [META_FILE, 'model.xml', 'model.bin']
        files += ['model.onnx'] if self.onnx else []
        files += list(MODEL_API_FILES) if self.model_api is not False else []
        return files
