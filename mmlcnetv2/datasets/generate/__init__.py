# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""The embedded datasets' generators (``mmlcnetv2 make-shapes``,
``make-shapes-seg``, ``make-digits``; ``tools/data/*.py`` in a checkout):
seeded, written into a temporary folder and renamed into place when
complete, each signed by its ``meta.json``, which is what lets a generator
replace its own dataset and nothing else.

- :mod:`.shapes`: shapes detection (COCO boxes), what ``mmlcnetv2 demo``
  trains on;
- :mod:`.shapes_seg`: shapes segmentation (image + PNG mask folders);
- :mod:`.digits`: scikit-learn's handwritten digits, class per folder;
- :mod:`.shapes_common`: the drawing and writing the shapes sets share.
"""
