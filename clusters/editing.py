"""Rules of editing shared by the admin, the API and imports: who may
publish, and how an edit made on an outdated copy is caught and explained."""

from django.utils.translation import gettext as _

MAX_CHANGES_SHOWN = 10


def can_publish(user, model):
    return user.has_perm(f"{model._meta.app_label}.publish_{model._meta.model_name}")


def stored_version(instance):
    """The version now in the database (None for a record not saved yet)."""
    if instance.pk is None:
        return None
    return type(instance)._base_manager.filter(pk=instance.pk).values_list("version", flat=True).first()


def changes_since(instance, seen_version):
    """[(field, old, new)] between the version an editor saw and the stored one,
    from the record's history."""
    history = type(instance).history.filter(id=instance.pk)
    seen = history.filter(version=seen_version).order_by("-history_date").first()
    latest = history.order_by("-history_date", "-history_id").first()
    if seen is None or latest is None or seen.pk == latest.pk:
        return []
    delta = latest.diff_against(seen, foreign_keys_are_objs=False)
    return [(change.field, change.old, change.new) for change in delta.changes]


def conflict_message(instance, seen_version):
    """What to tell the editor whose save came second."""
    changes = changes_since(instance, seen_version)
    lines = [
        _(
            "Someone else saved this record after you opened it (your copy is version %(seen)s, "
            "the stored one is version %(stored)s). Your changes were not saved."
        )
        % {"seen": seen_version, "stored": stored_version(instance)}
    ]
    if changes:
        shown = "; ".join(f"{field}: {old!r} → {new!r}" for field, old, new in changes[:MAX_CHANGES_SHOWN])
        lines.append(_("Their changes: %(changes)s.") % {"changes": shown})
    lines.append(_("Reload the page to see the current version, then make your edit again."))
    return " ".join(lines)


def may_see_drafts(user, model):
    """Editors who may view or change a model see its drafts (to preview them)."""
    if not user.is_authenticated:
        return False
    opts = model._meta
    return any(user.has_perm(f"{opts.app_label}.{action}_{opts.model_name}") for action in ("view", "change"))


def visible_to(user, queryset):
    """Drafts too for editors who may view the model; what is published for everyone else."""
    return queryset if may_see_drafts(user, queryset.model) else queryset.public()
