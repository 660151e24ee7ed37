"""Factories for every domain model; defaults are valid and inside the Belt."""

import factory
from django.contrib.gis.geos import Point

from clusters import models


class ProvinceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Province

    name = factory.Sequence(lambda n: f"Province {n}")
    name_zh = factory.Sequence(lambda n: f"省{n}")
    slug = factory.Sequence(lambda n: f"province-{n}")
    reach = models.Reach.MIDDLE
    kind = models.ProvinceKind.PROVINCE


class CityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.City

    name = factory.Sequence(lambda n: f"City {n}")
    name_zh = factory.Sequence(lambda n: f"市{n}")
    slug = factory.Sequence(lambda n: f"city-{n}")
    province = factory.SubFactory(ProvinceFactory)
    level = models.CityLevel.PREFECTURE
    location = factory.Sequence(lambda n: Point(110 + (n % 100) / 10, 28 + (n % 50) / 10, srid=4326))


class SectorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Sector

    name = factory.Sequence(lambda n: f"Sector {n}")
    name_zh = factory.Sequence(lambda n: f"产业{n}")
    slug = factory.Sequence(lambda n: f"sector-{n}")


class PolicyDocumentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.PolicyDocument

    name = factory.Sequence(lambda n: f"Document {n}")
    slug = factory.Sequence(lambda n: f"document-{n}")
    kind = models.DocumentKind.PLAN
    status = models.PublicationStatus.PUBLISHED
    language = models.Language.CHINESE
    citation = factory.LazyAttribute(lambda o: f"{o.name}. Test citation.")


class PlannedBaseFactory(factory.django.DjangoModelFactory):
    """A base with one source, as every base must have."""

    class Meta:
        model = models.PlannedBase
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Base {n}")
    slug = factory.Sequence(lambda n: f"base-{n}")
    kind = models.BaseKind.BASE
    status = models.PublicationStatus.PUBLISHED
    stage = models.BaseStage.PLANNED
    reach = models.Reach.MIDDLE
    source = factory.RelatedFactory("tests.factories.BaseSourceFactory", factory_related_name="base")


class BaseMembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.BaseMembership

    base = factory.SubFactory(PlannedBaseFactory)
    city = factory.SubFactory(CityFactory)
    role = models.MembershipRole.MEMBER


class BaseSourceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.BaseSource

    base = factory.SubFactory(PlannedBaseFactory, source=None)
    document = factory.SubFactory(PolicyDocumentFactory)
    section = "Industry"
