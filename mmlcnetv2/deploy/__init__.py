# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""OpenVINO deployment: export (``export``, ``Exporter``) and inference
(``OpenVINOInferencer``) of classifiers, detectors and segmentors.

Grouped by when the code runs (docs/architecture.md):

- :mod:`.exporting`: config + checkpoint -> export folder, in the named
  phases of :meth:`.exporting.Exporter.__call__` (int8 included);
- :mod:`.preprocess`: ``deploy.json``'s preprocessing steps, one class per
  ``op`` (:mod:`.preprocess.steps`), written at export, replayed at
  inference and calibration;
- :mod:`.manifest`: ``deploy.json`` built, finished and checked;
- :mod:`.model_api`: what OpenVINO Model API reads;
- :mod:`.runtime`: the inferencer, streaming, evaluation;
- :mod:`.tasks`: everything task-specific, one class per task, chosen by a
  predicate on the config.
"""
from ..apis.build import GlobalMean, use_mean_pooling
from .exporting import (PRECISIONS, Exporter, ExportOptions, export,
                     load_for_export)
from .manifest.schema import DeployFormatError, read_meta
from .runtime.inferencer import OpenVINOInferencer
from .tasks import (ClassifierExport, DeployTask, DetectorExport,
                    SegmentorExport, get_task, wrap_for_export)

__all__ = [
    'export', 'Exporter', 'ExportOptions', 'load_for_export', 'PRECISIONS',
    'OpenVINOInferencer',
    'DeployFormatError', 'read_meta', 'DeployTask', 'get_task',
    'ClassifierExport', 'DetectorExport', 'SegmentorExport', 'GlobalMean',
    'use_mean_pooling', 'wrap_for_export'
]
