"""The Django app of the control plane."""

from __future__ import annotations

from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "tradeforge.web"
    label = "tradeforge_web"
    verbose_name = "tradeforge control plane"
    default_auto_field = "django.db.models.BigAutoField"
