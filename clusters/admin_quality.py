"""The admin's data-quality page: the findings of `check_data`, each linked
to the record's change page, for staff who may view every domain model."""

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _

from clusters.quality import ENTITY_MODELS, by_category, find_problems


def may_view_every_entity(request):
    # The page names records of every entity model; someone who may not see
    # one of them in the admin should not see it listed here either.
    return all(
        admin.site.get_model_admin(model).has_view_or_change_permission(request) for model in ENTITY_MODELS
    )


def data_quality_view(request):
    if not may_view_every_entity(request):
        raise PermissionDenied
    findings = find_problems()
    context = {
        **admin.site.each_context(request),
        "title": _("Data quality"),
        "groups": by_category(findings),
        "total": len(findings),
    }
    return TemplateResponse(request, "admin/data_quality.html", context)


# admin_view: staff only (others go to the admin login), never cached.
data_quality = admin.site.admin_view(data_quality_view)
