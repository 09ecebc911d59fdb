"""Sending the digest over SMTP: the only module that speaks SMTP.

Plain SMTP, STARTTLS (`digest.starttls = true`) or SMTP over TLS (`digest.ssl = true`,
usually port 465); login when `digest.username` is set, with the password from
`$TIDINGS_SMTP_PASSWORD`. Every failure (refused connection, timeout, TLS, login, a
refused message) becomes a `DigestError` that names the server and the reason.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import getaddresses

from .config import DigestConfig
from .errors import DigestError

__all__ = ["DEFAULT_TIMEOUT", "send_message"]

DEFAULT_TIMEOUT = 30.0  # seconds for the connection and every SMTP command


def send_message(message: EmailMessage, config: DigestConfig, *,
                 timeout: float = DEFAULT_TIMEOUT,
                 context: ssl.SSLContext | None = None) -> dict[str, tuple[int, bytes]]:
    """Hand `message` to the configured SMTP server for every address of `digest.to`.

    Returns the recipients the server refused (empty when it took them all; when it refuses
    every one, that is a `DigestError`). `context` verifies the server's certificate
    (default: the system's trust store, with host name checks)."""
    where = f"{config.smtp_host}:{config.smtp_port}"
    recipients = [addr for _, addr in getaddresses(list(config.to)) if addr]
    if not recipients:
        raise DigestError(f"SMTP {where}: no recipients (set digest.to in the configuration)")
    if config.username and not config.password:
        raise DigestError(f"SMTP {where}: digest.username is {config.username!r} but "
                          "$TIDINGS_SMTP_PASSWORD is empty")
    if config.ssl or config.starttls:
        context = context or ssl.create_default_context()
    sender = message["From"].addresses[0].addr_spec if message["From"] else None
    smtp: smtplib.SMTP | None = None
    try:
        if config.ssl:
            smtp = smtplib.SMTP_SSL(config.smtp_host, config.smtp_port, timeout=timeout,
                                    context=context)
        else:
            smtp = smtplib.SMTP(config.smtp_host, config.smtp_port, timeout=timeout)
        smtp.ehlo_or_helo_if_needed()
        if config.starttls and not config.ssl:
            if not smtp.has_extn("starttls"):
                raise DigestError(f"SMTP {where}: the server does not offer STARTTLS "
                                  "(digest.starttls = true)")
            smtp.starttls(context=context)
            smtp.ehlo()
        if config.username:
            smtp.login(config.username, config.password)
        refused = smtp.send_message(message, from_addr=sender, to_addrs=recipients)
    except smtplib.SMTPAuthenticationError as exc:
        raise DigestError(f"SMTP {where}: login as {config.username!r} refused: "
                          f"{_reply(exc.smtp_code, exc.smtp_error)}") from exc
    except smtplib.SMTPRecipientsRefused as exc:
        detail = "; ".join(f"{addr}: {_reply(code, msg)}"
                           for addr, (code, msg) in exc.recipients.items())
        raise DigestError(f"SMTP {where}: every recipient was refused ({detail})") from exc
    except smtplib.SMTPResponseException as exc:
        raise DigestError(f"SMTP {where}: the server refused the message: "
                          f"{_reply(exc.smtp_code, exc.smtp_error)}") from exc
    except smtplib.SMTPNotSupportedError as exc:
        raise DigestError(f"SMTP {where}: not supported by the server: {exc}") from exc
    except smtplib.SMTPServerDisconnected as exc:
        raise DigestError(f"SMTP {where}: the server closed the connection: {exc}") from exc
    except ssl.SSLError as exc:
        raise DigestError(f"SMTP {where}: TLS failed: {exc.reason or exc}") from exc
    except smtplib.SMTPException as exc:
        raise DigestError(f"SMTP {where}: {exc}") from exc
    except TimeoutError as exc:
        raise DigestError(f"SMTP {where}: no answer within {timeout:g} s") from exc
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise DigestError(f"SMTP {where}: cannot connect: {reason}") from exc
    finally:
        if smtp is not None:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()
    return dict(refused)


def _reply(code: int, text: bytes | str) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return f"{code} {text}".strip()
