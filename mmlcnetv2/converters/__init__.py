from .paddle import (PaddleWeightsError, convert_paddle_checkpoint,
                     convert_paddle_state_dict, load_pdparams)

__all__ = [
    'PaddleWeightsError', 'load_pdparams', 'convert_paddle_state_dict',
    'convert_paddle_checkpoint'
]
