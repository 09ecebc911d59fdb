"""tidings: self-hosted multilingual news monitoring.

The public API is small and pinned by tests/test_api.py; names load lazily so that
`tidings --help` stays quick.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "Article": "models", "Page": "models", "PassReport": "models",
    "Config": "config", "load_config": "config",
    "Store": "store",
    "run_pass": "runner",
    "TidingsError": "errors", "ConfigError": "errors", "FetchError": "errors",
    "StoreError": "errors", "TranslateError": "errors", "DigestError": "errors",
}
__all__ = ["Article", "Config", "ConfigError", "DigestError", "FetchError", "Page",
           "PassReport", "Store", "StoreError", "TidingsError", "TranslateError", "__version__",
           "load_config", "run_pass"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'pipeline' has no attribute {name!r}")
