# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""The shape of ``mmlcnetv2/deploy/`` (docs/architecture.md): its parts
import one another without circles, and no module (nor a deploy test)
imports another module's private name."""
import ast
import glob
import os.path as osp
from typing import Dict, List, Set, Tuple

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEPLOY = osp.join(ROOT, 'mmlcnetv2', 'deploy')


def _module(path: str) -> str:
    rel = osp.relpath(path, ROOT)[:-len('.py')].replace(osp.sep, '.')
    return rel[:-len('.__init__')] if rel.endswith('.__init__') else rel


def _imports(path: str) -> List[Tuple[str, List[str]]]:
    """``(module, names)`` of every ``from ... import`` in ``path``
    (function-level ones too), relative ones resolved."""
    module = _module(path)
    package = module if path.endswith('__init__.py') else \
        module.rpartition('.')[0]
    out = []
    for node in ast.walk(ast.parse(open(path).read())):
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level:
            parts = package.split('.')
            base = parts[:len(parts) - node.level + 1]
            name = '.'.join(base + ([node.module] if node.module else []))
        else:
            name = node.module or ''
        out.append((name, [a.name for a in node.names]))
    return out


def _part(module: str) -> str:
    """The part of ``mmlcnetv2.deploy`` a module belongs to (its first
    name below ``deploy``), or '' outside it."""
    parts = module.split('.')
    if parts[:2] != ['mmlcnetv2', 'deploy'] or len(parts) < 3:
        return ''
    return parts[2]


def _part_graph() -> Dict[str, Set[str]]:
    graph: Dict[str, Set[str]] = {}
    for path in glob.glob(osp.join(DEPLOY, '**', '*.py'), recursive=True):
        src = _part(_module(path))
        for name, names in _imports(path):
            targets = [name] + [f'{name}.{n}' for n in names]
            for dst in {_part(t) for t in targets} - {'', src}:
                if src:
                    graph.setdefault(src, set()).add(dst)
    return graph


def _circle(graph: Dict[str, Set[str]]) -> List[str]:
    """One circle of ``graph``, or []."""
    state: Dict[str, int] = {}  # 1: on the path, 2: done

    def visit(node: str, path: List[str]) -> List[str]:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt, path + [nxt])
                if found:
                    return found
        state[node] = 2
        return []

    for start in sorted(graph):
        if start not in state:
            found = visit(start, [start])
            if found:
                return found
    return []


def test_circle_finder_finds_a_circle():
    assert _circle({
        'a': {'b'},
        'b': {'c'},
        'c': {'a'}
    }) == ['a', 'b', 'c', 'a']
    assert _circle({'a': {'b'}, 'b': {'c'}}) == []


def test_deploy_parts_import_without_circles():
    graph = _part_graph()
    # the parts the docs name are all there
    assert {'exporting', 'preprocess', 'manifest', 'model_api', 'runtime',
            'tasks'} <= set(graph)
    assert _circle(graph) == [], graph


def test_no_private_name_is_imported_across_modules():
    files = glob.glob(osp.join(DEPLOY, '**', '*.py'), recursive=True)
    files += [f for f in glob.glob(osp.join(ROOT, 'tests', '*.py'))
              if osp.basename(f).startswith(('test_deploy', 'test_infer',
                                             'test_decode', 'test_model_api',
                                             'test_det_ties'))]
    private = [(osp.relpath(f, ROOT), name, n) for f in files
               for name, names in _imports(f)
               if name.startswith('mmlcnetv2.deploy')
               for n in names if n.startswith('_')]
    assert private == []
