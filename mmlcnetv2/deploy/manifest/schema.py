# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""The ``deploy.json`` format: its marker, versions, fields, and checking.

An export folder of ``tools/deploy.py`` is recognised by ``deploy.json``
carrying ``"format": "mmlcnetv2-deploy"``; its ``files`` list is what the
export owns (and what a later export into the same folder may replace).
A ``deploy.json`` is checked when it is read, so a hand-edited or foreign
file fails at load with the file and the field named, not with a
``KeyError`` or an ``IndexError`` after inference.

Versions:
    1: no ``format`` marker and no ``files`` list (the export always wrote
       ``model.xml``, ``model.bin``, ``deploy.json`` and maybe
       ``model.onnx``).
    2: adds ``format`` and ``files``.
"""
import json
import os.path as osp
from typing import Any, Dict, List, Optional

from ..field_checks import (BOOL, FRACTION, MISSING, PAIR, POSITIVE_INT,
                            Check, DeployFormatError, check_field,
                            check_object, fail, is_int, is_number,
                            is_numbers, is_one_of, is_plain_name)
from ..preprocess.graph import GRAPH_STEPS
from ..preprocess.steps import STEPS
from ..tasks import TASKS

FORMAT = 'mmlcnetv2-deploy'
FORMAT_VERSION = 2
SUPPORTED_VERSIONS = (1, 2)
META_FILE = 'deploy.json'
# What a version-1 export could have written (it did not list its files).
V1_FILES = ('deploy.json', 'model.xml', 'model.bin', 'model.onnx')
REQUIRED_FILES = ('deploy.json', 'model.xml', 'model.bin')
#: How deep a deploy.json may nest (it needs 4 levels); Python's JSON
#: reader recurses, a file nested 200,000 deep raised RecursionError.
MAX_DEPTH = 16


#: Where in the IR's ``rt_info`` an export records its class count.
IR_NUM_CLASSES = ['mmlcnetv2', 'num_classes']

PREPROCESS: Dict[str, Check] = dict(
    mean=(lambda v: is_numbers(v, 3), 'a list of 3 numbers'),
    std=(lambda v: is_numbers(v, 3, nonzero=True),
         'a list of 3 non-zero numbers'),
    color_order=(lambda v: is_one_of(v, ('RGB', 'BGR')), "'RGB' or 'BGR'"),
    steps=(lambda v: isinstance(v, list), 'a list of steps'),
)
# Optional in version 1 (the inferencer defaults them to 0).
PADDING: Dict[str, Check] = dict(
    pad_size_divisor=((lambda v: is_int(v, 0)), 'an integer >= 0'),
    pad_value=(is_number, 'a number'),
)
# Task fields every deploy.json has, checked where set: null where the
# task does not use them (a host-NMS detection's check_meta requires them).
TASK_FIELDS: Dict[str, Check] = dict(score_threshold=FRACTION,
                                     max_per_img=POSITIVE_INT)
# deploy.json's input form (mmlcnetv2.deploy.preprocess.spec.input_spec).
INPUT_FORM: Dict[str, Check] = dict(
    dtype=(lambda v: is_one_of(v, ('float32', 'uint8')),
           "'float32' or 'uint8'"),
    layout=(lambda v: is_one_of(v, ('NCHW', 'NHWC')), "'NCHW' or 'NHWC'"),
    color_order=(lambda v: is_one_of(v, ('RGB', 'BGR')), "'RGB' or 'BGR'"),
    preprocess_in_graph=(
        lambda v: isinstance(v, list) and all(
            is_one_of(s, GRAPH_STEPS) for s in v)
        and v == [s for s in GRAPH_STEPS if s in v],
        'a list of steps out of to_float, resize, pad_image, color_order, '
        'normalize, pad, layout, in that order'),
)


def _check_depth(meta: dict, path: str) -> None:
    """Refuse nesting deeper than :data:`MAX_DEPTH` (without recursing)."""
    todo = [(meta, 1, '<top level>')]
    while todo:
        node, depth, field = todo.pop()
        if depth > MAX_DEPTH:
            raise DeployFormatError(
                f'{path}: nested more than {MAX_DEPTH} levels deep (at '
                f'{field}); a deploy.json of tools/deploy.py nests 4')
        children = node.items() if isinstance(node, dict) else enumerate(
            node) if isinstance(node, list) else ()
        for key, child in children:
            if isinstance(child, (dict, list)):
                todo.append((child, depth + 1, f'{field}.{key}'
                             if field != '<top level>' else str(key)))


def _check_steps(steps: List[Any], path: str) -> None:
    """Each step's ``op`` and the fields its step class names
    (:attr:`~mmlcnetv2.deploy.preprocess.steps.Step.fields`)."""
    for i, step in enumerate(steps):
        field = f'preprocess.steps[{i}]'
        step = check_object(step, field, path)
        op = step.get('op', MISSING)
        if not is_one_of(op, STEPS):
            fail(path, f'{field}.op', f'one of {sorted(STEPS)}', op)
        for key, check in STEPS[op].fields.items():
            check_field(step, key, check, path, f'{field}.')


def validate_meta(meta: Any, path: str) -> dict:
    """Check a loaded ``deploy.json`` against its ``format_version``.

    Args:
        meta: The parsed JSON.
        path (str): The file, for the messages.

    Returns:
        dict: ``meta``, unchanged.

    Raises:
        DeployFormatError: The first bad or missing field, named with the
            file, what it must be and what it is.
    """
    meta = check_object(meta, '<top level>', path)
    _check_depth(meta, path)
    version = meta.get('format_version', MISSING)
    if isinstance(version, bool) or version not in SUPPORTED_VERSIONS:
        fail(
            path, 'format_version',
            f'one of {list(SUPPORTED_VERSIONS)} (a deploy.json of '
            'tools/deploy.py; re-export with it)', version)
    if version >= 2:
        check_field(meta, 'format', (lambda v: v == FORMAT, repr(FORMAT)),
                    path)
        check_field(
            meta, 'files',
            (lambda v: isinstance(v, list) and all(map(
                is_plain_name, v)) and set(REQUIRED_FILES) <= set(v),
             f'a list of file names including {list(REQUIRED_FILES)}'), path)
    check_field(meta, 'task',
                (lambda v: is_one_of(v, TASKS), f'one of {list(TASKS)}'), path)
    task = meta['task']
    # The output names an export of the task may have (earlier ones too).
    outputs = TASKS[task].accepted_outputs
    check_field(meta, 'outputs', (lambda v: v in outputs, ' or '.join(
        map(str, outputs)) + f' for task {task!r}'), path)
    check_field(meta, 'classes',
                (lambda v: isinstance(v, list) and len(v) > 0 and all(
                    isinstance(c, str)
                    for c in v), 'a non-empty list of class names (strings)'),
                path)
    for key, check in TASK_FIELDS.items():
        if meta.get(key, None) is not None:
            check_field(meta, key, check, path)
    inp = check_object(meta.get('input', MISSING), 'input', path)
    check_field(inp, 'dynamic', BOOL, path, 'input.')
    check_field(inp, 'export_size', PAIR, path, 'input.')
    # The input form (absent before the uint8 form: float32 NCHW).
    for key, check in INPUT_FORM.items():
        check_field(inp, key, check, path, 'input.', required=False)
    if (inp.get('dtype', 'float32') == 'uint8') != (
            inp.get('layout', 'NCHW') == 'NHWC'):
        fail(path, 'input.layout', "'NHWC' for a uint8 input and 'NCHW' "
             'for a float32 one', inp.get('layout', MISSING))
    pre = check_object(meta.get('preprocess', MISSING), 'preprocess', path)
    for key, check in PREPROCESS.items():
        check_field(pre, key, check, path, 'preprocess.')
    for key, check in PADDING.items():
        check_field(pre, key, check, path, 'preprocess.',
                    required=version >= 2)
    _check_steps(pre['steps'], path)
    TASKS[task].check_meta(meta, path)
    return meta


def check_meta_to_write(meta: dict, what: str) -> None:
    """Check the ``deploy.json`` an export is about to write (before
    ``format`` and ``files`` are added) as :func:`validate_meta` will when
    it is read, so that a config whose values make an export the
    inferencer refuses is refused before anything is written.

    Args:
        meta (dict): :func:`mmlcnetv2.deploy.manifest.build.build_meta`'s.
        what (str): Where its values come from, for the message.

    Raises:
        DeployFormatError: Naming the field, its value and what is allowed.
    """
    try:
        validate_meta(dict(meta, format=FORMAT, files=list(REQUIRED_FILES)),
                      META_FILE)
    except DeployFormatError as e:
        raise DeployFormatError(
            f'{what} would make a deploy.json that the inferencer refuses '
            f'({e}); nothing was written') from None


def mark_num_classes(ov_model, num_classes: int) -> None:
    """Record the class count in the IR (``rt_info``, saved in model.xml),
    for :func:`check_num_classes`: a detector's outputs do not show it."""
    ov_model.set_rt_info(int(num_classes), IR_NUM_CLASSES)


def check_num_classes(meta: dict, ov_model, from_shapes: Optional[int],
                      path: str) -> None:
    """``classes`` must have one name per class of the IR: the count it
    records (:func:`mark_num_classes`), else ``from_shapes`` (what its
    output shapes give, None where they do not).

    Raises:
        DeployFormatError: Naming ``path``, both counts and where the IR's
            comes from.
    """
    count, source = from_shapes, 'outputs (classes)'
    if ov_model is not None and ov_model.has_rt_info(IR_NUM_CLASSES):
        count = int(ov_model.get_rt_info(IR_NUM_CLASSES).astype(int))
        source = 'classes (rt_info)'
    if count is not None and count != len(meta['classes']):
        raise DeployFormatError(
            f"{path}: 'classes' has {len(meta['classes'])} names but "
            f'model.xml has {count} {source}: it must have one name per '
            'class of the model')


def load_meta(path: str) -> dict:
    """Read and check one ``deploy.json``.

    Raises:
        DeployFormatError: Not JSON, or a bad field (see
            :func:`validate_meta`).
    """
    try:
        with open(path, encoding='utf-8') as f:
            meta = json.load(f)
    except json.JSONDecodeError as e:
        raise DeployFormatError(
            f'{path}: not valid JSON ({e.msg} at line {e.lineno} column '
            f'{e.colno})') from None
    except UnicodeDecodeError as e:
        raise DeployFormatError(f'{path}: not a UTF-8 text file ({e.reason} '
                                f'at byte {e.start})') from None
    except RecursionError:
        raise DeployFormatError(
            f'{path}: nested too deep for the JSON reader; a deploy.json '
            f'of tools/deploy.py nests 4 levels (at most {MAX_DEPTH})'
        ) from None
    return validate_meta(meta, path)


def read_meta(model_dir: str) -> dict:
    """The checked ``deploy.json`` of an export folder.

    Raises:
        FileNotFoundError: ``model_dir`` or its ``deploy.json`` is missing.
        DeployFormatError: ``deploy.json`` is not a valid export description.
    """
    path = osp.join(model_dir, META_FILE)
    if not osp.isdir(model_dir):
        raise FileNotFoundError(f'Export directory not found: {model_dir!r}')
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'{path!r} is missing: {model_dir!r} is not a complete export of '
            'tools/deploy.py (it writes model.xml, model.bin and '
            'deploy.json).')
    return load_meta(path)


def owned_files(folder: str) -> List[str]:
    """The files the export in ``folder`` owns, as its ``deploy.json`` says.

    Raises:
        DeployFormatError: ``folder`` holds no valid ``deploy.json`` (so it
            is not, or no longer, an export of ``tools/deploy.py``).
    """
    path = osp.join(folder, META_FILE)
    if not osp.isfile(path):
        raise DeployFormatError(f'{path} is missing')
    meta = load_meta(path)
    files = list(V1_FILES) if meta['format_version'] == 1 else list(
        meta['files'])
    for name in files:
        # Replaced one by one by a later export: a folder of that name is
        # not one of its files (os.replace failed at the very end).
        entry = osp.join(folder, name)
        if osp.lexists(entry) and (osp.isdir(entry) or not (
                osp.isfile(entry) or osp.islink(entry))):
            raise DeployFormatError(
                f"{path}: 'files' lists {name!r}, which is "
                f"{'a folder' if osp.isdir(entry) else 'not a file'} in "
                f'{folder}; an export lists only its own files')
    return files
