"""The one error tree of tidings.

    TidingsError
     ├── ConfigError            bad configuration: names the file, the key, the problem (exit 2)
     ├── StoreError             the SQLite store cannot be opened or written (exit 1)
     ├── LockHeld               another pass holds the lock in state/
     ├── FetchError             one request failed; carries source and url
     │    ├── HTTPStatusError    a final non-2xx/304 answer
     │    ├── RobotsDisallowed   robots.txt forbids the URL
     │    ├── NotHTML            the body is not a web page (PDF, image …)
     │    ├── TooManyRedirects
     │    ├── Refused            not fetched or not read: a private address, a non-web
     │    │                      scheme, a layered or unknown content encoding
     │    └── TransportError     timeout, refused connection … after retries
     ├── FeedError              a feed or sitemap cannot be parsed
     ├── ExtractError           a page holds no article text
     ├── TranslateError         a translation failed (article stored as `failed`)
     │    ├── ModelMissing       no Argos package for the pair (article stays `pending`)
     │    └── IndexUnreachable   the Argos package index cannot be reached
     └── DigestError            the digest cannot be built or sent (SMTP refused …)

Library errors are wrapped with `raise … from exc` so the cause is kept.
"""

from __future__ import annotations


class TidingsError(Exception):
    """Root of every error tidings raises on purpose."""


class ConfigError(TidingsError):
    def __init__(self, path: str, key: str | None, problem: str) -> None:
        self.path, self.key, self.problem = path, key, problem
        where = f"{path}: {key}" if key else path
        super().__init__(f"{where}: {problem}")


class StoreError(TidingsError):
    pass


class LockHeld(TidingsError):
    def __init__(self, path: str, holder: str) -> None:
        self.path, self.holder = path, holder
        super().__init__(f"another tidings process holds {path} ({holder})")


class FetchError(TidingsError):
    #: True when asking again cannot help (the link is skipped, not retried next pass)
    final = False

    def __init__(self, message: str, *, url: str = "", source: str = "",
                 status: int | None = None) -> None:
        self.url, self.source, self.status = url, source, status
        super().__init__(message)


class HTTPStatusError(FetchError):
    pass


class RobotsDisallowed(FetchError):
    final = True


class NotHTML(FetchError):
    final = True


class TooManyRedirects(FetchError):
    pass


class TransportError(FetchError):
    pass


class Refused(FetchError):
    """What a page or host asked for is refused on principle: retrying will not help."""

    final = True


class FeedError(TidingsError):
    def __init__(self, message: str, *, url: str = "", source: str = "") -> None:
        self.url, self.source = url, source
        super().__init__(message)


class ExtractError(TidingsError):
    def __init__(self, message: str, *, url: str = "") -> None:
        self.url = url
        super().__init__(message)


class TranslateError(TidingsError):
    pass


class ModelMissing(TranslateError):
    pass


class IndexUnreachable(TranslateError):
    pass


class DigestError(TidingsError):
    pass
