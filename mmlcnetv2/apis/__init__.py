from .build import (build_model, load_config, prepare_for_export,
                    register_scope, reparameterize)

__all__ = [
    'load_config', 'build_model', 'reparameterize', 'prepare_for_export',
    'register_scope'
]
