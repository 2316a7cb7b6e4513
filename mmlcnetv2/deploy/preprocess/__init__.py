# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""``deploy.json``'s preprocessing: the table of steps (:mod:`.steps`, one
class per ``op``), its writer (:mod:`.spec`: config -> steps, at export),
its reader (:mod:`.host`: image -> the IR's input, at inference and
calibration), the part inside the IR (:mod:`.graph`), image-file checks
before decoding (:mod:`.image_file`) and reduced-size JPEG decoding
(:mod:`.jpeg`)."""
