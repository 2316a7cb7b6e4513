# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""``--cfg-options`` for a config's variables (``pretrained``, ``classes``,
``data_root``, ``num_classes``, ...): applied where the config uses them,
or refused in one line.

A config's top-level variable is copied into the settings that use it
when the file is evaluated (``checkpoint=pretrained``, ``num_classes =
len(classes)``, ``ann_file=data_root + val_ann``), so mmengine's
``merge_from_dict`` after loading changes the variable and nothing that
uses it. Here a ``--cfg-options`` key without a dot is applied while the
config is read instead: every top-level assignment to that name, in the
config and each of its ``_base_`` files, is followed by one of the given
value, so that everything computed from it afterwards sees the new value.
A key into a variable (``metainfo.classes=...``) cannot be applied that way
and is refused, naming the keys that use the variable.

Example:
    >>> with variables_set({'pretrained': 'my.pth'}) as applied:
    ...     cfg = Config.fromfile('configs/det/retinanet_lcnetv2.py')
    ... # doctest: +SKIP
    >>> cfg.model.backbone.init_cfg.checkpoint, applied  # doctest: +SKIP
    ('my.pth', {'pretrained'})
"""
import ast
import contextlib
from typing import Callable, Dict, Iterator, List, Optional, Set

from ..errors import UserInputError

#: Top-level keys mmengine's ``Runner.from_cfg`` reads; a config need not
#: set them.
RUNNER_KEYS = frozenset((
    'work_dir', 'train_dataloader', 'val_dataloader', 'test_dataloader',
    'train_cfg', 'val_cfg', 'test_cfg', 'auto_scale_lr', 'optim_wrapper',
    'param_scheduler', 'val_evaluator', 'test_evaluator', 'default_hooks',
    'custom_hooks', 'data_preprocessor', 'load_from', 'resume', 'launcher',
    'env_cfg', 'log_processor', 'log_level', 'visualizer', 'default_scope',
    'randomness', 'experiment_name', 'model_wrapper_cfg', 'sync_bn',
    'find_unused_parameters', 'compile', 'cfg'))

#: Top-level keys that the Runner, mmengine's builders or the OpenMMLab
#: tools read themselves (besides :data:`RUNNER_KEYS`): not
#: variables, a key into them is a setting.
READ_KEYS = frozenset(('model', 'custom_imports', 'tta_model',
                       'tta_pipeline'))


def _assigned_names(stmt: ast.stmt) -> Set[str]:
    """The names a top-level statement binds by assignment."""
    if isinstance(stmt, ast.Assign):
        targets = list(stmt.targets)
    elif isinstance(stmt, (ast.AugAssign, ast.AnnAssign)):
        targets = [stmt.target]
    else:
        return set()
    names = set()
    while targets:
        target = targets.pop()
        if isinstance(target, ast.Name):
            names.add(target.id)
        elif isinstance(target, (ast.Tuple, ast.List)):
            targets.extend(target.elts)
        elif isinstance(target, ast.Starred):
            targets.append(target.value)
    return names


def _literal(name: str, value) -> ast.expr:
    """``value`` as a Python literal expression (what ``DictAction``
    gives: str, number, bool, None, lists and tuples of them)."""
    text = repr(value)
    try:
        same = ast.literal_eval(text) == value
    except (ValueError, SyntaxError):
        same = False
    if not same:
        raise UserInputError(
            f'--cfg-options {name}={value!r}: a config variable takes a '
            'Python literal (string, number, True/False/None, list, tuple)')
    return ast.parse(text, mode='eval').body


@contextlib.contextmanager
def variables_set(values: Dict[str, object]) -> Iterator[Set[str]]:
    """While active, mmengine's config parser follows every top-level
    assignment to a name in ``values`` with ``name = values[name]``.

    Yields:
        set: The names that were assigned somewhere (filled as configs are
        read).
    """
    import mmengine.config.config as config_module
    original = config_module.RemoveAssignFromAST
    applied: Set[str] = set()
    exprs = {name: _literal(name, value) for name, value in values.items()}

    class AssignVariables(original):
        """mmengine's ``_base_`` remover (it parses each config file's code
        through it), plus the assignments of ``values``."""

        def visit_Module(self, node: ast.Module) -> ast.Module:
            node = self.generic_visit(node)
            body: List[ast.stmt] = []
            for stmt in node.body:
                body.append(stmt)
                for name in sorted(_assigned_names(stmt) & exprs.keys()):
                    body.append(ast.Assign(
                        targets=[ast.Name(id=name, ctx=ast.Store())],
                        value=exprs[name]))
                    applied.add(name)
            node.body = body
            return ast.fix_missing_locations(node)

    config_module.RemoveAssignFromAST = AssignVariables
    try:
        yield applied
    finally:
        config_module.RemoveAssignFromAST = original


def variable_options(options: Optional[dict]) -> Dict[str, object]:
    """The ``--cfg-options`` entries that name a top-level variable (no dot,
    not a key the Runner reads: ``val_dataloader=None`` turns validation
    off and must not reach ``test_dataloader = val_dataloader``)."""
    return {k: v for k, v in (options or {}).items()
            if '.' not in k and is_variable(k)}


def is_variable(name: str) -> bool:
    """Whether a top-level key of a config is a variable (neither a key
    the Runner reads nor one of :data:`READ_KEYS`)."""
    return name not in RUNNER_KEYS and name not in READ_KEYS


def settings_using(cfg_dict: dict, value, limit: int = 4) -> List[str]:
    """Keys of settings (under keys that are not variables) whose value
    equals ``value`` (a string, list, tuple or dict: equal numbers or
    booleans say nothing of where one came from)."""
    found: List[str] = []
    if not isinstance(value, (str, list, tuple, dict)):
        return found

    def walk(node, path: str) -> None:
        if len(found) >= limit:
            return
        if path and node == value and type(node) is type(value):
            found.append(path)
            return
        items = (node.items() if isinstance(node, dict) else
                 enumerate(node) if isinstance(node, (list, tuple)) else ())
        for key, child in items:
            walk(child, f'{path}.{key}' if path else str(key))

    for key, node in cfg_dict.items():
        if is_variable(key):
            continue
        walk(node, key)
    return found


def _settings(cfg) -> dict:
    """The part of ``cfg`` that is not a variable."""
    root = cfg._cfg_dict if hasattr(cfg, '_cfg_dict') else cfg
    return {k: v for k, v in root.items() if not is_variable(k)}


def check_variables_used(load: Callable[[Dict[str, object]], object],
                         cfg, options: Optional[dict]) -> None:
    """Refuse a variable override that changed no setting (nothing in the
    config uses the variable, e.g. ``pretrained`` where ``init_cfg`` is
    None): it would be accepted and ignored.

    Args:
        load: Reads the config with the given variables set.
        cfg: The config read with all of ``options``' variables.
        options (dict): The ``--cfg-options``.

    Raises:
        UserInputError: One line naming the variable.
    """
    root = cfg._cfg_dict if hasattr(cfg, '_cfg_dict') else cfg
    values = {k: v for k, v in variable_options(options).items()
              if k in root and is_variable(k)}
    if not values:
        return
    base = load({})
    base_root = base._cfg_dict
    for name, value in values.items():
        if base_root.get(name) == value:
            continue  # the config's own value: nothing to change
        alone = cfg if len(values) == 1 else load({name: value})
        if _settings(alone) == _settings(base):
            raise UserInputError(
                f'--cfg-options {name}={value!r}: nothing in this config '
                f'uses the variable {name!r}, so it would change nothing; '
                'set the key you mean instead')


def check_variable_options(cfg, options: Optional[dict],
                           applied: Set[str]) -> None:
    """Refuse the ``--cfg-options`` that would change a variable of
    ``cfg`` and nothing that uses it.

    Args:
        cfg (Config): The config read with :func:`variables_set`.
        options (dict): The ``--cfg-options``.
        applied (set): What :func:`variables_set` applied.

    Raises:
        UserInputError: One line naming the key and the keys to set
            instead.
    """
    root = cfg._cfg_dict if hasattr(cfg, '_cfg_dict') else cfg
    for key in options or {}:
        name, _, rest = key.partition('.')
        if name not in root or not is_variable(name) or (
                not rest and name in applied):
            continue
        uses = settings_using(root, root[name])
        instead = ', '.join(f'{u}.{rest}' if rest else u for u in uses)
        why = (f'{name!r} is a config variable, copied into the settings '
               'that use it when the config is read, so changing part of '
               'it changes nothing' if rest else
               f'{name!r} is a config variable that this config does not '
               'assign where it can be replaced')
        raise UserInputError(
            f'--cfg-options {key}: {why}; ' +
            (f'set {instead} instead' if uses else
             'set the keys that use it instead'))
