# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""The commands of ``mmlcnetv2 COMMAND`` (:mod:`.main`), one module each
with a ``main(argv)``; ``tools/*.py`` in a checkout are thin scripts around
the same functions (docs/commands.md).

They are the top layer: they parse, check, call the library (``apis``,
``deploy``, ``converters``, ...) and print; what they share (exit codes,
config checks, the Runner set-up) is :mod:`mmlcnetv2.cli`, a layer below,
which the library may use too. Each module imports the frameworks after
parsing, so ``--help`` stays quick.
"""
