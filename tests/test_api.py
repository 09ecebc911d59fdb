"""What `pipeline` exports is a promise: changing it must be a decision, not an accident."""

from __future__ import annotations

import subprocess
import sys

import pipeline


def test_public_names_are_pinned() -> None:
    assert pipeline.__all__ == sorted([
        "Article", "Config", "ConfigError", "DigestError", "FetchError", "Page", "PassReport",
        "Store", "StoreError", "TidingsError", "TranslateError", "__version__", "load_config",
        "run_pass"])
    for name in pipeline.__all__:
        assert getattr(pipeline, name) is not None


def test_errors_share_one_root() -> None:
    for name in ("ConfigError", "FetchError", "StoreError", "TranslateError", "DigestError"):
        assert issubclass(getattr(pipeline, name), pipeline.TidingsError)


def test_importing_the_package_stays_light() -> None:
    code = ("import sys, pipeline; heavy = [m for m in ('trafilatura', 'httpx', 'ctranslate2', "
            "'argostranslate', 'datasette') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=False)
    assert out.stdout.strip() == "[]"
