"""The import structure: no import circles in the package (between modules,
nor between its top-level parts: ``compat``, ``converters``, ``models``,
``deploy``, ...) or in ``benchmarks/``, and no private name (``_x``) used
across modules, by the package, the scripts or the tests.

Read from the source with :mod:`ast` (nothing is imported). Every import
counts, also one inside a function: a lazy import only hides a circle.
"""
import ast
import glob
import os.path as osp
from typing import Dict, Iterator, List, Optional, Set, Tuple

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
PACKAGE = 'mmlcnetv2'
#: Where a private name may not come from: our code.
OURS = (PACKAGE, 'benchmarks', 'tools', 'tests')


def module_name(path: str) -> str:
    """``mmlcnetv2/deploy/tasks/__init__.py`` -> ``mmlcnetv2.deploy.tasks``
    (a file outside the checkout: its own name)."""
    rel = osp.relpath(path, ROOT)
    if rel.startswith('..'):
        rel = osp.basename(path)
    parts = osp.splitext(rel)[0].split(osp.sep)
    return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


def package_modules(*packages: str) -> Dict[str, str]:
    """Every module of ``packages`` (default: the package): name -> file."""
    files = [f for p in packages or (PACKAGE, ) for f in glob.glob(
        osp.join(ROOT, p, '**', '*.py'), recursive=True)]
    return {module_name(f): f for f in sorted(files)}


def _base(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """The absolute module a ``from ... import`` names."""
    if not node.level:
        return node.module or ''
    parts = module.split('.')
    parts = parts if is_package else parts[:-1]
    parts = parts[:len(parts) - node.level + 1]
    return '.'.join(parts + ([node.module] if node.module else []))


def imports(path: str, known: Set[str]) -> Iterator[Tuple[str, str, int]]:
    """``(module, name, line)`` of every import in ``path``: the module
    imported from (resolved; a submodule imported by name is the module
    itself, name ``''``) and the name taken from it (``''``: the module)."""
    module = module_name(path)
    is_package = osp.basename(path) == '__init__.py'
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, '', node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = _base(node, module, is_package)
            for alias in node.names:
                sub = f'{base}.{alias.name}'
                if sub in known:
                    yield sub, '', node.lineno
                else:
                    yield base, alias.name, node.lineno


def import_graph(modules: Dict[str, str]) -> Dict[str, Set[str]]:
    """Module -> the package's modules it imports."""
    known = set(modules)
    graph: Dict[str, Set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        for target, _, _ in imports(path, known):
            if target in known and target != module:
                graph[module].add(target)
    return graph


def strongly_connected(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """The circles of ``graph``: its strongly connected components of more
    than one node (Tarjan's algorithm), each sorted."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    found: List[List[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def part_of(module: str) -> str:
    """The top-level part of the package a module belongs to
    (``mmlcnetv2.deploy.tasks.base`` -> ``mmlcnetv2.deploy``)."""
    return '.'.join(module.split('.')[:2])


def part_graph(graph: Dict[str, Set[str]]) -> Dict[str, Set[str]]:
    """The import graph between the package's top-level parts. The
    package's own ``__init__`` is left out: every module is under it."""
    parts: Dict[str, Set[str]] = {}
    for module, targets in graph.items():
        if module == PACKAGE:
            continue
        edges = parts.setdefault(part_of(module), set())
        edges.update(part_of(t) for t in targets
                     if t != PACKAGE and part_of(t) != part_of(module))
    return parts


def _private(name: str) -> bool:
    return name.startswith('_') and not name.startswith('__')


def _ours(module: str) -> bool:
    return module.split('.')[0] in OURS


def private_uses(path: str, known: Set[str]) -> List[str]:
    """Private names ``path`` takes from another module of ours:
    ``from m import _x``, and ``m._x`` on a module ``m`` it imported."""
    module = module_name(path)
    found = []
    aliases: Dict[str, str] = {}  # local name -> module of ours
    for target, name, line in imports(path, known):
        if not _ours(target) or target == module:
            continue
        if _private(name):
            found.append(f'{osp.relpath(path, ROOT)}:{line}: '
                         f'from {target} import {name}')
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = _base(node, module, osp.basename(path) == '__init__.py')
            for alias in node.names:
                aliases[alias.asname or alias.name] = f'{base}.{alias.name}'
        elif isinstance(node, ast.Import):
            for alias in node.names:  # `import a.b` binds `a`
                aliases[alias.asname or alias.name.split('.')[0]] = \
                    alias.name if alias.asname else alias.name.split('.')[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr) and \
                isinstance(node.value, ast.Name) and \
                node.value.id in aliases and \
                _is_module(aliases[node.value.id], known):
            found.append(f'{osp.relpath(path, ROOT)}:{node.lineno}: '
                         f'{node.value.id}.{node.attr} '
                         f'({aliases[node.value.id]})')
    return found


def _is_module(name: str, known: Set[str]) -> bool:
    """Whether ``name`` is a module of ours (not a class or function)."""
    if name in known:
        return True
    path = osp.join(ROOT, *name.split('.'))
    return osp.isfile(path + '.py') or osp.isfile(
        osp.join(path, '__init__.py'))


def _files(*folders: str) -> List[str]:
    return sorted(p for folder in folders for p in glob.glob(
        osp.join(ROOT, folder, '**', '*.py'), recursive=True))


def test_no_circles_between_modules():
    circles = strongly_connected(import_graph(
        package_modules(PACKAGE, 'benchmarks')))
    assert circles == [], '\n'.join(' <-> '.join(c) for c in circles)


def test_no_circles_between_the_parts_of_the_package():
    circles = strongly_connected(part_graph(import_graph(package_modules())))
    assert circles == [], '\n'.join(' <-> '.join(c) for c in circles)


def test_no_private_name_across_modules():
    known = set(package_modules(PACKAGE, 'benchmarks'))
    found = [use for path in _files(PACKAGE, 'benchmarks', 'tools', 'tests')
             for use in private_uses(path, known)]
    assert found == [], '\n'.join(found)


def test_the_checks_find_what_they_look_for(tmp_path):
    """The graph, the circles and the private names on a made-up case:
    a test that could not fail would prove nothing."""
    graph = {'a': {'b'}, 'b': {'c'}, 'c': {'a'}, 'd': {'a'}, 'e': set()}
    assert strongly_connected(graph) == [['a', 'b', 'c']]
    assert part_graph({'mmlcnetv2.x.a': {'mmlcnetv2.y'},
                       'mmlcnetv2.y': {'mmlcnetv2.x.b', 'mmlcnetv2'},
                       'mmlcnetv2': {'mmlcnetv2.y'}}) == {
                           'mmlcnetv2.x': {'mmlcnetv2.y'},
                           'mmlcnetv2.y': {'mmlcnetv2.x'}}
    path = tmp_path / 'made_up.py'
    path.write_text('from mmlcnetv2.cli import _report\n'
                    'from mmlcnetv2.commands import main\n'
                    'import mmlcnetv2.commands.main as m\n'
                    'main._private, m.COMMANDS, m._hidden\n')
    uses = private_uses(str(path), set(package_modules()))
    assert [u.split(': ', 1)[1] for u in uses] == [
        'from mmlcnetv2.cli import _report',
        'main._private (mmlcnetv2.commands.main)',
        'm._hidden (mmlcnetv2.commands.main)']


def find_circles() -> Optional[str]:
    """The circles, one per line (for a quick look: ``python
    tests/test_imports.py``)."""
    graph = import_graph(package_modules(PACKAGE, 'benchmarks'))
    lines = [' <-> '.join(c) for c in strongly_connected(graph)]
    lines += ['parts: ' + ' <-> '.join(c) for c in strongly_connected(
        part_graph(import_graph(package_modules())))]
    return '\n'.join(lines) or None


if __name__ == '__main__':
    known = set(package_modules(PACKAGE, 'benchmarks'))
    print(find_circles() or 'no circles')
    for path in _files(PACKAGE, 'benchmarks', 'tools', 'tests'):
        for use in private_uses(path, known):
            print(use)
