# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""``deploy.json``: built once and finished once at export (:mod:`.build`),
checked whenever it is read (:mod:`.schema`, from the field checks of
:mod:`mmlcnetv2.deploy.field_checks`)."""
