"""Who may send feedback: the holder of the token this server was started with.

True labels move the accuracy a canary and a DriftPolicy judge, so a client on the pod network
must not be able to send them (150 wrong labels made the accuracy check report drift). The
operator provisions one Secret per namespace and mounts it in the serving pods:

    Secret ballast-feedback, key token  ->  /var/run/ballast/feedback/token
    BALLAST_FEEDBACK_TOKEN_FILE=/var/run/ballast/feedback/token   (or --feedback-token-file)

(those names are defined in ballast.build.feedback_token and imported here).

A caller sends `Authorization: Bearer <token>`. Without a token file the server refuses all
feedback (403): secure by default. The operator's side of this interface is
ballast.build.feedback_token. Inference, health and /metrics need no token.
"""

from __future__ import annotations

import hmac
import logging
from pathlib import Path

# The Secret's name and key, where it is mounted and the variable naming that file are defined
# once, on the side that provisions them (a light module: the server image has it too).
from ballast.build.feedback_token import FEEDBACK_SECRET as FEEDBACK_SECRET_NAME
from ballast.build.feedback_token import FEEDBACK_TOKEN_ENV as FEEDBACK_TOKEN_FILE_ENV
from ballast.build.feedback_token import FEEDBACK_TOKEN_KEY as FEEDBACK_SECRET_KEY
from ballast.serving.errors import FeedbackDisabled, StartupFailure, Unauthorized

log = logging.getLogger(__name__)

MIN_TOKEN_BYTES = 16
"""A shorter token could be guessed; the operator's are 32 random bytes, base64."""
MAX_TOKEN_BYTES = 4096
CHALLENGE = 'Bearer realm="ballast-feedback"'
"""The WWW-Authenticate header of a 401."""


class FeedbackAuth:
    """The token feedback needs: given (tests), or read from a file and read again when the file
    changes, so a rotated Secret reaches a running pod once the kubelet updates the volume."""

    def __init__(self, token: bytes | None = None, path: Path | None = None) -> None:
        self._token, self._path = token, path
        self._seen: tuple[int, int] | None = None
        """(inode, mtime) of the file the token was read from."""
        self._problem: str | None = None
        """What was wrong with the file at the last look, logged once rather than per request."""

    @classmethod
    def from_file(cls, path: Path) -> FeedbackAuth:
        """StartupFailure unless `path` holds a usable token: a server told to take feedback must
        not start without one, nor with one anyone could guess."""
        auth = cls(path=path)
        try:
            auth._reload()
        except TokenUnusable as error:
            raise StartupFailure("FeedbackTokenUnreadable", str(error)) from None
        return auth

    @property
    def token(self) -> bytes | None:
        if self._path is not None:
            try:
                self._reload()
                self._problem = None
            except TokenUnusable as error:  # mid-rotation, say: the last good token stays
                if str(error) != self._problem:
                    log.warning("keeping the previous feedback token: %s", error)
                self._problem = str(error)
        return self._token

    def _reload(self) -> None:
        assert self._path is not None
        try:
            status = self._path.stat()
            if (status.st_ino, status.st_mtime_ns) == self._seen:
                return
            with self._path.open("rb") as file:
                token = file.read(MAX_TOKEN_BYTES + 1).strip()
        except OSError as error:
            raise TokenUnusable(
                f"cannot read the feedback token file {self._path}: {error.strerror or error}"
            ) from None
        if not MIN_TOKEN_BYTES <= len(token) <= MAX_TOKEN_BYTES:
            raise TokenUnusable(
                f"the feedback token in {self._path} has {len(token)} bytes; "
                f"it needs {MIN_TOKEN_BYTES} to {MAX_TOKEN_BYTES}"
            )
        self._token, self._seen = token, (status.st_ino, status.st_mtime_ns)

    def check(self, authorization: str | None) -> None:
        """Unauthorized or FeedbackDisabled unless `authorization` carries this server's token."""
        token = self.token
        if token is None:
            raise FeedbackDisabled(
                "feedback is turned off: this server was started without a feedback token "
                f"(--feedback-token-file or ${FEEDBACK_TOKEN_FILE_ENV})"
            )
        scheme, _, presented = (authorization or "").strip().partition(" ")
        # compare_digest: the time taken says nothing about how much of a guess was right.
        if scheme.lower() != "bearer" or not hmac.compare_digest(presented.strip().encode(), token):
            raise Unauthorized(
                "feedback needs the header `Authorization: Bearer <token>` with this namespace's "
                f"feedback token (Secret {FEEDBACK_SECRET_NAME}, key {FEEDBACK_SECRET_KEY})"
            )


class TokenUnusable(Exception):
    pass
