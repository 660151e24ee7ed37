"""The one place that turns cities and bases into GeoJSON (RFC 7946:
WGS84, [longitude, latitude]) for the site's maps."""

from django.contrib.gis.geos import MultiPoint

from clusters.geo import WGS84_SRID
from clusters.templatetags.clusters_tags import local_name


def feature_collection(features):
    return {"type": "FeatureCollection", "features": [f for f in features if f is not None]}


def city_features(cities):
    """A Point feature per city that has a location."""
    located = cities.select_related("province").exclude(location__isnull=True)
    return (city_feature(city) for city in located)


def city_feature(city):
    """Needs city.province loaded; None for a city without a location."""
    if city.location is None:
        return None
    return {
        "type": "Feature",
        "id": f"city:{city.slug}",
        "geometry": {"type": "Point", "coordinates": [city.location.x, city.location.y]},
        "properties": {
            "entity": "city",
            "slug": city.slug,
            "label": local_name(city),
            "name": city.name,
            "name_zh": city.name_zh,
            "province": city.province.slug,
            "reach": city.province.reach,
            "url": city.get_absolute_url(),
        },
    }


def base_features(bases):
    return (base_feature(base) for base in bases.with_members())


def base_feature(base):
    """Its area, else its member cities as a MultiPoint that the map joins
    up; None for a base with neither. Needs memberships and cities loaded."""
    geometry = base_geometry(base)
    if geometry is None:
        return None
    return {
        "type": "Feature",
        "id": f"base:{base.slug}",
        "geometry": geometry,
        "properties": {
            "entity": "base",
            "slug": base.slug,
            "label": local_name(base),
            "name": base.name,
            "name_zh": base.name_zh,
            "kind": base.kind,
            "stage": base.stage,
            "reach": base.reach,
            "members": [local_name(m.city) for m in base.memberships.all() if m.city.location],
            "url": base.get_absolute_url(),
        },
    }


def base_geometry(base):
    return geometry_dict(base_shape(base))


def base_shape(base):
    """Its area, else the MultiPoint of its located member cities, else None."""
    if base.area is not None:
        return base.area
    return multipoint([membership.city.location for membership in base.memberships.all()])


def multipoint(points):
    """The given points (None entries skipped) as one MultiPoint, or None."""
    located = [point for point in points if point is not None]
    return MultiPoint(located, srid=WGS84_SRID) if located else None


def geometry_dict(geometry):
    if geometry is None:
        return None
    return {"type": geometry.geom_type, "coordinates": geometry.coords}
