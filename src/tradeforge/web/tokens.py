"""API tokens: ``tf_`` + 43 URL-safe random characters, sent as ``Authorization: Bearer
TOKEN``; the database keeps only the SHA-256 digest, so a leaked table grants nothing."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.utils import timezone

from tradeforge.core.errors import ConfigError
from tradeforge.web.models import ApiToken

PREFIX = "tf_"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def make_token(username: str, name: str) -> str:
    """A new token of user ``username`` named ``name`` (replacing one of that name): the
    token itself, shown once."""
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise ConfigError(f"no user {username!r} (create it with `tradeforge web user`)")
    if not name:
        raise ConfigError("a token needs a name")
    token = PREFIX + secrets.token_urlsafe(32)
    ApiToken.objects.update_or_create(user=user, name=name, defaults={"digest": digest(token)})
    return token


def authenticate(token: str) -> Any:
    """The active user ``token`` belongs to, or None."""
    row = (
        ApiToken.objects.select_related("user")
        .filter(digest=digest(token), user__is_active=True)
        .first()
    )
    if row is None:
        return None
    ApiToken.objects.filter(pk=row.pk).update(last_used=timezone.now())
    return row.user
