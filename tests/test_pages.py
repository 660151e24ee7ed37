"""Public pages."""

from http import HTTPStatus

import pytest
from django.urls import resolve, reverse

pytestmark = pytest.mark.django_db


def test_home_url_resolves_both_ways():
    assert reverse("clusters:home") == "/"
    assert resolve("/").view_name == "clusters:home"


def test_home_page_says_what_the_site_is_and_links_to_the_admin(client, reference_data):
    response = client.get("/")

    assert response.status_code == HTTPStatus.OK
    html = response.content.decode()
    assert "Yangtze River Economic Belt" in html
    assert reverse("admin:index") in html
    assert {str(label): count for label, count, _url in response.context["counts"]} == {
        "policy documents": 3,
        "planned bases": 16,
        "sectors": 35,
        "cities": 15,
        "provinces": 11,
    }


def test_home_page_in_chinese(client, reference_data):
    response = client.get("/zh-hans/")

    assert response.status_code == HTTPStatus.OK
    assert 'lang="zh-hans"' in response.content.decode()


def test_home_page_query_count_is_constant(client, reference_data, django_assert_max_num_queries):
    with django_assert_max_num_queries(10):
        client.get("/")
