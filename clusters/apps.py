from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ClustersConfig(AppConfig):
    name = "clusters"
    verbose_name = _("Yangtze clusters")

    def ready(self):
        from django.db.backends.signals import connection_created
        from django.db.models.signals import m2m_changed, post_delete, post_migrate, post_save

        from clusters.caching import create_cache_tables, note_change

        for signal in (post_save, post_delete, m2m_changed):
            signal.connect(note_change, dispatch_uid=f"clusters-revision-{signal}")
        connection_created.connect(restore_busy_timeout, dispatch_uid="clusters-busy-timeout")
        post_migrate.connect(create_cache_tables, sender=self, dispatch_uid="clusters-cache-tables")


def restore_busy_timeout(sender, connection, **kwargs):
    """SpatiaLite sets a busy timeout of its own (5 s) as it loads, over the
    database's OPTIONS "timeout": put the configured one back."""
    timeout = connection.settings_dict["OPTIONS"].get("timeout")
    if connection.vendor == "sqlite" and timeout is not None:
        connection.connection.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
