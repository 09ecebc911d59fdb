"""What `pipeline` exports is a promise: changing it must be a decision, not an accident."""

from __future__ import annotations

import importlib
import importlib.util
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


MOVED = {  # the house of issue 13: each name has one home, the old paths are gone
    "pipeline.due": ["backoff_interval", "next_due", "backed_off", "first_run_at",
                     "missed_digest_time", "jitter_for"],
    "pipeline.packages": ["PackageInfo", "list_packages", "install_from_file",
                          "install_from_index", "DEFAULT_INDEX_URL"],
    "pipeline.translate": ["Translator", "TranslationStage", "TranslatorKeeper",
                           "translation_status"],
    "pipeline.console": ["print_stories", "print_report", "graceful_stop", "progress"],
    "pipeline.models": ["Link", "ReportedError", "SkippedSource", "StoryRow", "SourceState",
                        "Fate", "parse_time", "iso_utc"],
    "pipeline.frontier": ["Frontier"],
    "pipeline.workers": ["WorkerPool"],
    "pipeline.figures": ["scan", "numbers", "names"],
}
GONE = {
    "pipeline.runner": ["backoff_interval", "next_due", "backed_off", "TranslationStage",
                        "TranslatorKeeper", "default_translator", "StoreCache"],
    "pipeline.scheduler": ["first_run_at", "missed_digest_time", "jitter_for"],
    "pipeline.translate": ["list_packages", "install_from_file", "install_from_index",
                           "PackageInfo"],
    "pipeline.cli": ["print_stories"],
    "pipeline.store": ["Link"],
    "pipeline.models": ["FetchError_"],
}


def test_moved_names_live_in_one_place() -> None:
    for module, names in MOVED.items():
        loaded = importlib.import_module(module)
        for name in names:
            assert hasattr(loaded, name), f"{module}.{name}"
    for module, names in GONE.items():  # no alias left behind: not defined there any more
        loaded = importlib.import_module(module)
        for name in names:
            found = getattr(loaded, name, None)
            assert getattr(found, "__module__", None) != module, f"{module}.{name} is back"
    assert importlib.util.find_spec("pipeline.fingerprints") is None
