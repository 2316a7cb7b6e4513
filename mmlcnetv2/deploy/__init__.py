# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""OpenVINO deployment: export (``export``) and inference
(``OpenVINOInferencer``) of classifiers, detectors and segmentors.

The orchestration (:mod:`.export`, :mod:`.inferencer`, :mod:`.evaluate`,
:mod:`.quantize`) asks the task objects of :mod:`.tasks` for everything
task-specific; :mod:`.pipeline` holds the preprocessing contract of
``deploy.json`` (written at export, replayed at inference and calibration);
:mod:`.meta` and :mod:`.schema` write and check the rest of the file.
"""
from ..apis.build import GlobalMean, use_mean_pooling
from .export import PRECISIONS, export, load_for_export
from .inferencer import OpenVINOInferencer
from .schema import DeployFormatError, read_meta
from .tasks import (ClassifierExport, DeployTask, DetectorExport,
                    SegmentorExport, get_task, wrap_for_export)

__all__ = [
    'export', 'load_for_export', 'PRECISIONS', 'OpenVINOInferencer',
    'DeployFormatError', 'read_meta', 'DeployTask', 'get_task',
    'ClassifierExport', 'DetectorExport', 'SegmentorExport', 'GlobalMean',
    'use_mean_pooling', 'wrap_for_export'
]
