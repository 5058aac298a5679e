"""SSL methods. Every module in this package registers one method.

Importing the package imports each sibling module, so a new method needs only
its own file.
"""

import importlib
import pkgutil

from ssl_tf.methods.base import (
    MethodConfig,
    SSLModel,
    get_method,
    list_methods,
    make_method_config,
    method_config_fields,
    register_method,
    unregister_method,
)

for _module in pkgutil.iter_modules(__path__):
    if _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")

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
