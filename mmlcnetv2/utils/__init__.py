"""Small utilities: atomic writes, output paths checked against the inputs,
the list of the files a tool wrote into a folder, denormal handling,
safe-load messages.

Each module imports only what it needs (``mmlcnetv2.utils.atomic`` must not
pay for torch); the patches of our dependencies are in
:mod:`mmlcnetv2.compat`."""
