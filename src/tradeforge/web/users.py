"""Users and their role (`auth`): viewer = plain user, operator = group ``operator``,
admin = superuser (Django's admin too)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from tradeforge.core.errors import ConfigError
from tradeforge.web.auth import OPERATOR


def set_user(name: str, password: str, role: str) -> None:
    """Create ``name`` or update its password and role."""
    if not name or not password:
        raise ConfigError("a user needs a name and a password")
    user, _ = get_user_model().objects.get_or_create(username=name)
    user.set_password(password)
    user.is_superuser = user.is_staff = role == "admin"
    user.save()
    group, _ = Group.objects.get_or_create(name=OPERATOR)
    if role in ("operator", "admin"):
        user.groups.add(group)
    else:
        user.groups.remove(group)
