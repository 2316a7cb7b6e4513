"""Small utilities. Imported lazily: ``mmlcnetv2.utils.atomic`` must not
pay for torch (``safe_load``)."""


def __getattr__(name: str):
    if name in ('MMENGINE_CHECKPOINT_GLOBALS', 'allow_mmengine_checkpoints'):
        from . import safe_load
        return getattr(safe_load, name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


__all__ = ['MMENGINE_CHECKPOINT_GLOBALS', 'allow_mmengine_checkpoints']
