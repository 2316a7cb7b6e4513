# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""OpenVINO deployment: export (``export``) and inference
(``OpenVINOInferencer``) of classifiers, detectors and segmentors."""
from .export import PRECISIONS, export, load_for_export
from .inferencer import OpenVINOInferencer
from .schema import DeployFormatError, read_meta
from .wrappers import (ClassifierExport, DetectorExport, GlobalMean,
                       SegmentorExport, use_mean_pooling, wrap_for_export)

__all__ = [
    'export', 'load_for_export', 'PRECISIONS', 'OpenVINOInferencer',
    'DeployFormatError', 'read_meta',
    'ClassifierExport', 'DetectorExport', 'SegmentorExport', 'GlobalMean',
    'use_mean_pooling', 'wrap_for_export'
]
