"""SSL methods. Every module in this package registers one method.

Importing the package imports each sibling module, so a new method needs only
its own file. `base` holds what methods share, `ema` the momentum target of
MoCo and BYOL, `siamese` the predictor, loss and collapse metric of BYOL and
SimSiam; `key_queue` and `shuffle_bn` are MoCo's building blocks (these
register nothing).
"""

from ssl_tf import registry
from ssl_tf.methods.base import (
    MethodConfig,
    SSLModel,
    get_method,
    list_methods,
    register_method,
    unregister_method,
)
from ssl_tf.overrides import make_method_config, method_config_fields

# Import every module of this package: each registers itself.
registry.import_submodules(__name__, __path__)

__all__ = [
    "MethodConfig",
    "SSLModel",
    "get_method",
    "list_methods",
    "make_method_config",
    "method_config_fields",
    "register_method",
    "unregister_method",
]
