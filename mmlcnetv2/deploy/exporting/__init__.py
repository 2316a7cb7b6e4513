# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""Export: config + checkpoint -> ``model.xml``/``.bin`` (+ ONNX, + the
Model API IR) + ``deploy.json``.

:class:`Exporter` runs the phases in order (load, task, preprocessing spec,
wrap, manifest, convert + check, in-graph preprocessing, quantize, write);
:class:`ExportOptions` says what to make; :func:`export` is the two in one
call, as ``tools/deploy.py`` uses them.
"""
from .conversion import check_onnx, convert, convert_checked, export_onnx
from .exporter import Exporter, export
from .folder import check_in_place, files_to_replace
from .load import load_for_export
from .options import PRECISIONS, ExportOptions

__all__ = [
    'Exporter', 'ExportOptions', 'export', 'PRECISIONS', 'load_for_export',
    'convert', 'convert_checked', 'export_onnx', 'check_onnx',
    'files_to_replace', 'check_in_place'
]
