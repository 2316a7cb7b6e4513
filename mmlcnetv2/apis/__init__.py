from .build import build_model, load_config, reparameterize

__all__ = ['load_config', 'build_model', 'reparameterize']
