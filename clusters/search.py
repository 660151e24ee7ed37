"""One search over every entity, in English and Chinese.

Every database matches names and texts by substring, which is what finds
Chinese (PostgreSQL's text search does not split Chinese into words). On
PostgreSQL, full-text search is added so that English word forms match too
("plans" finds "planned").
"""

from functools import reduce
from operator import or_

from django.db import connection
from django.db.models import Q

from clusters.models import City, PlannedBase, PolicyDocument, Province, Sector

SEARCHED_FIELDS = {
    PolicyDocument: ["name", "name_zh", "summary", "description", "citation", "authors", "publisher"],
    PlannedBase: ["name", "name_zh", "description"],
    Sector: ["name", "name_zh", "description"],
    City: ["name", "name_zh", "description"],
    Province: ["name", "name_zh", "description"],
}


def search_all(query, *, limit):
    """[(entity label, total, first `limit` matches)] for each entity with matches."""
    groups = []
    for model, fields in SEARCHED_FIELDS.items():
        matches = model.objects.public().filter(matching(model, query, fields)).order_by("name")
        total = matches.count()
        if total:
            groups.append((model._meta.verbose_name_plural, total, list(matches[:limit])))
    return groups


def matching(model, query, fields):
    condition = reduce(or_, (Q(**{f"{field}__icontains": query}) for field in fields))
    if connection.vendor == "postgresql":
        condition |= Q(pk__in=full_text_ids(model, query, fields))
    return condition


def full_text_ids(model, query, fields):
    from django.contrib.postgres.search import SearchQuery, SearchVector

    return (
        model.objects.annotate(document=SearchVector(*fields, config="english"))
        .filter(document=SearchQuery(query, config="english", search_type="websearch"))
        .values("pk")
    )
