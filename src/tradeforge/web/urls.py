"""URL map of the control plane."""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.contrib.staticfiles.views import serve
from django.urls import path, re_path

from tradeforge.web import api, views


def _static(request, path):  # the embedded server has no front proxy for the admin's CSS
    return serve(request, path, insecure=True)


urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("", views.backtest_list, name="backtest_list"),
    path("backtests/new/", views.backtest_new, name="backtest_new"),
    path("backtests/<int:pk>/", views.backtest_detail, name="backtest_detail"),
    path("backtests/<int:pk>/report.html", views.backtest_report_html, name="backtest_report"),
    path("backtests/<int:pk>/cancel/", views.backtest_cancel, name="backtest_cancel"),
    path("compare/", views.compare, name="compare"),
    path("research/", views.research_list, name="research_list"),
    path("research/<int:root>/<str:name>/", views.research_detail, name="research_detail"),
    path("research/<int:root>/<str:name>/page.html", views.research_page, name="research_page"),
    path("operations/", views.operations, name="operations"),
    path("operations/command/", views.operations_command, name="operations_command"),
    path("operations/start/", views.session_start, name="session_start"),
    path("operations/stop/", views.session_stop, name="session_stop"),
    path("operations/resume/", views.session_resume, name="session_resume"),
    path("compliance/", views.compliance_page, name="compliance"),
    path("notifications/", views.notifications_page, name="notifications"),
    path("audit/", views.audit, name="audit"),
    path("api/backtests/", api.backtests, name="api_backtests"),
    path("api/backtests/<int:pk>/", api.backtest, name="api_backtest"),
    path("api/backtests/<int:pk>/cancel/", api.backtest_cancel, name="api_backtest_cancel"),
    path("api/sessions/", api.session_list, name="api_sessions"),
    path("api/sessions/command/", api.session_command, name="api_session_command"),
    path("api/sessions/start/", api.session_start, name="api_session_start"),
    path("api/sessions/stop/", api.session_stop, name="api_session_stop"),
    path("api/sessions/resume/", api.session_resume, name="api_session_resume"),
    path("api/compliance/", api.compliance_doc, name="api_compliance"),
]
if settings.EMBEDDED:
    urlpatterns.append(re_path(r"^static/(?P<path>.*)$", login_not_required(_static)))
