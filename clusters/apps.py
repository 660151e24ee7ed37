from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ClustersConfig(AppConfig):
    name = "clusters"
    verbose_name = _("Yangtze clusters")

    def ready(self):
        from django.db.models.signals import m2m_changed, post_delete, post_migrate, post_save

        from clusters.caching import create_cache_tables, note_change

        for signal in (post_save, post_delete, m2m_changed):
            signal.connect(note_change, dispatch_uid=f"clusters-revision-{signal}")
        post_migrate.connect(create_cache_tables, sender=self, dispatch_uid="clusters-cache-tables")
