"""The bundled sample news web (`tidings demo`, the test suite) and the small HTTP server it
runs on. `SiteServer` is generic: tests use it to serve any page, slow or failing."""

from pipeline.demo.server import (
    ConnectionAbort,
    Handler,
    RequestInfo,
    RequestLog,
    Resource,
    SiteServer,
)
from pipeline.demo.site import DemoWeb, Outlet, truth

__all__ = [
    "ConnectionAbort",
    "DemoWeb",
    "Handler",
    "Outlet",
    "RequestInfo",
    "RequestLog",
    "Resource",
    "SiteServer",
    "truth",
]
