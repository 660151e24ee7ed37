"""Public pages."""

from django.views.generic import TemplateView

from clusters.models import City, PlannedBase, PolicyDocument, Province, Sector


class HomeView(TemplateView):
    template_name = "clusters/home.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["counts"] = [
            (model._meta.verbose_name_plural, model.objects.count())
            for model in (PolicyDocument, PlannedBase, Sector, City, Province)
        ]
        return context
