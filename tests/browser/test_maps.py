"""What a reader does in a real browser: maps, popups, filters, languages."""

import re

from playwright.sync_api import expect

from clusters.models import City

MAP_LOADED = "[data-map-frame][data-loaded='true']"


def city_markers(page):
    return page.locator("path.city-marker")


def test_home_map_shows_a_marker_per_city(page, site, screenshot):
    page.goto(site + "/")
    page.wait_for_selector(MAP_LOADED)

    assert city_markers(page).count() == City.objects.exclude(location__isnull=True).count() == 15
    assert page.locator("path.base-link").count() > 0
    screenshot("home")


def test_clicking_a_city_popup_link_opens_its_page(page, site):
    page.goto(site + "/")
    page.wait_for_selector(MAP_LOADED)

    page.locator("path.city-wuhan").dispatch_event("click")
    page.locator(".leaflet-popup-content a", has_text="Wuhan").click()

    page.wait_for_url(re.compile(r"/cities/wuhan/$"))
    assert "Wuhan" in page.locator("h1").inner_text()


def test_map_filter_changes_the_markers(page, site, screenshot):
    page.goto(site + "/map/")
    page.wait_for_selector(MAP_LOADED)
    assert city_markers(page).count() == 15

    page.select_option("#id_province", "hunan")

    # A locator, not wait_for_function: the site's CSP forbids evaluating strings.
    expect(page.locator("path.city-marker")).to_have_count(6)
    assert "province=hunan" in page.url
    screenshot("map-hunan")


def test_switching_language_shows_chinese_names(page, site, screenshot):
    page.goto(site + "/cities/wuhan/")
    page.wait_for_selector(MAP_LOADED)
    screenshot("city-wuhan")

    page.locator(".language-switch a[hreflang='zh-hans']").click()

    page.wait_for_url(re.compile(r"/zh-hans/cities/wuhan/$"))
    heading = page.locator("h1").inner_text()
    assert heading.startswith("武汉")
    assert page.locator("html").get_attribute("lang") == "zh-hans"


def test_base_page_shows_its_member_cities_on_a_map(page, site, screenshot):
    page.goto(site + "/bases/central-china-home-appliance-base/")
    page.wait_for_selector(MAP_LOADED)

    assert city_markers(page).count() == 6
    screenshot("base-home-appliances")


def test_full_map_page_screenshot(page, site, screenshot):
    page.goto(site + "/map/")
    page.wait_for_selector(MAP_LOADED)
    screenshot("map")
