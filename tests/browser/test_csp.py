"""The Content-Security-Policy in a real browser: every kind of page works
under it, and none reports a violation.

Violations are caught two ways: the page's `securitypolicyviolation` events
(recorded by a script Playwright injects before the page's own) and the
browser's console messages about the policy, which also cover workers and
anything blocked before the recorder could see it. Uncaught script errors
fail the tests too: a page whose script broke does not "work".
"""

import json
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from playwright.sync_api import expect

from clusters.models import City, PlannedBase, Province

MAP_LOADED = "[data-map-frame][data-loaded='true']"
PASSWORD = "a-long-and-correct-password"

RECORD_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  const where = `${event.sourceFile}:${event.lineNumber}`;
  window.cspViolations.push(`${event.effectiveDirective} blocked ${event.blockedURI || "inline"} (${where})`);
});
"""

# Redoc always shows the Redocly logo from its CDN; the policy blocks it on
# purpose (the docs load nothing from other sites) and Redoc then hides it.
EXPECTED_BLOCKS = ["https://cdn.redoc.ly/"]


class PolicyWatch:
    def __init__(self, page):
        self.page = page
        self.console = []
        self.errors = []
        page.on("console", self.on_console)
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.add_init_script(RECORD_VIOLATIONS)

    def on_console(self, message):
        if "Content Security Policy" in message.text:
            self.console.append(message.text)

    def problems(self):
        """Everything reported since the test began (console, errors) or
        since the current page loaded (violation events)."""
        events = self.page.evaluate("window.cspViolations || []")
        found = [*events, *self.console, *self.errors]
        return [text for text in found if not any(url in text for url in EXPECTED_BLOCKS)]


@pytest.fixture
def policy(page):
    return PolicyWatch(page)


@pytest.fixture
def editor(site, page, policy):
    """A superuser logged in through the admin's login form (which must work
    under the policy too)."""
    User.objects.create_superuser("editor", "editor@example.com", PASSWORD)
    page.goto(site + "/admin/login/?next=/admin/")
    assert policy.problems() == []
    page.fill("#id_username", "editor")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(site + "/admin/")
    return page


def tile_origin():
    parts = urlsplit(settings.LEAFLET_CONFIG["TILES"][0][1])
    return f"{parts.scheme}://{parts.netloc}"


def test_the_policy_forbids_inline_scripts(page, site):
    response = page.goto(site + "/")
    header = response.headers["content-security-policy"]
    policy = dict(directive.strip().split(" ", 1) for directive in header.split(";"))

    assert "'unsafe-inline'" not in policy["script-src"]
    assert "'unsafe-eval'" not in policy["script-src"]
    assert tile_origin() in policy["img-src"]


# ---------------------------------------------------------------------------
# Public maps
# ---------------------------------------------------------------------------


def test_map_page_draws_and_filters_its_features(page, site, policy):
    page.goto(site + "/map/")
    page.wait_for_selector(MAP_LOADED)

    assert page.locator("path.city-marker").count() == 15
    assert page.locator("path.base-link").count() > 0
    tiles = page.locator("img.leaflet-tile")
    assert tiles.count() > 0
    assert tiles.first.get_attribute("src").startswith(tile_origin())

    # The filters fetch new GeoJSON from the site.
    page.select_option("#id_province", "hunan")
    # (expect, not wait_for_function: a string predicate is eval'd in the
    # page, which the policy rightly refuses.)
    expect(page.locator("path.city-marker")).to_have_count(6)
    assert policy.problems() == []


def test_city_page_shows_its_map(page, site, policy):
    page.goto(site + "/cities/wuhan/")
    page.wait_for_selector(MAP_LOADED)

    assert page.locator("path.city-wuhan").count() == 1
    assert page.locator("#main .leaflet-control-zoom").count() == 1
    assert policy.problems() == []


# ---------------------------------------------------------------------------
# The admin and its map widgets
# ---------------------------------------------------------------------------


def test_admin_index_and_changelist_work(editor, site, policy):
    page = editor
    assert page.locator("#content-main a", has_text="Cities").count() > 0
    assert policy.problems() == []

    page.goto(site + "/admin/clusters/city/")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 15
    # The admin's own scripts run: the header box selects every row.
    page.check("#action-toggle")
    assert page.locator("#result_list tbody tr.selected").count() == 15
    assert policy.problems() == []


def wait_for_widget_map(page, field):
    """The map of a geometry widget, started by static/js/leaflet-maps.js."""
    widget = page.locator(f"[data-leaflet-widget]:has(textarea#id_{field})")
    widget.locator(".leaflet-container .leaflet-draw").wait_for()
    assert widget.locator("img.leaflet-tile").count() > 0
    assert widget.locator(".leaflet-control-zoom").count() == 1
    return widget.locator(".leaflet-container")


def test_city_change_form_map_shows_and_saves_the_location(editor, site, policy):
    page = editor
    city = City.objects.get(slug="wuhan")
    page.goto(site + f"/admin/clusters/city/{city.pk}/change/")
    map_ = wait_for_widget_map(page, "location")

    # The stored point is on the map and in the (hidden) textarea.
    assert map_.locator(".leaflet-marker-icon").count() == 1
    stored = json.loads(page.input_value("#id_location"))
    assert stored["type"] == "Point"
    assert stored["coordinates"] == pytest.approx([city.location.x, city.location.y], abs=1e-5)

    # Place a new marker with the drawing tools, then save.
    page.click(".leaflet-draw-draw-marker")
    box = map_.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.6)
    page.mouse.click(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.6)
    drawn = json.loads(page.input_value("#id_location"))
    assert drawn["type"] == "Point"
    assert drawn["coordinates"] != stored["coordinates"]
    page.click("input[name=_continue]")
    page.wait_for_selector(".messagelist .success")

    city.refresh_from_db()
    assert [city.location.x, city.location.y] == pytest.approx(drawn["coordinates"], abs=1e-5)
    assert policy.problems() == []


def test_planned_base_change_form_map_draws_and_saves_an_area(editor, site, policy):
    page = editor
    base = PlannedBase.objects.get(slug="central-china-home-appliance-base")
    assert base.area is None
    page.goto(site + f"/admin/clusters/plannedbase/{base.pk}/change/")
    map_ = wait_for_widget_map(page, "area")
    assert page.input_value("#id_area") == ""

    # A triangle: three corners (Leaflet.draw follows the pointer, so it
    # moves to each before pressing), then "Finish".
    page.click(".leaflet-draw-draw-polygon")
    box = map_.bounding_box()
    for corner, (x, y) in enumerate([(0.4, 0.4), (0.6, 0.4), (0.5, 0.6)], start=1):
        page.mouse.move(box["x"] + box["width"] * x, box["y"] + box["height"] * y, steps=3)
        page.mouse.down()
        page.mouse.up()
        # Leaflet.draw ignores a click that follows the last one too closely.
        expect(map_.locator(".leaflet-editing-icon")).to_have_count(corner)
        page.wait_for_timeout(300)
    page.click(".leaflet-draw-actions a:text-is('Finish')")
    drawn = json.loads(page.input_value("#id_area"))
    assert drawn["type"] == "MultiPolygon"
    page.click("input[name=_continue]")
    page.wait_for_selector(".messagelist .success")

    base.refresh_from_db()
    assert base.area is not None
    assert base.area.num_coords == 4
    assert policy.problems() == []


def test_inline_maps_start_for_every_row_and_for_added_rows(editor, site, policy):
    page = editor
    province = Province.objects.get(slug="hubei")
    cities = province.cities.count()
    page.goto(site + f"/admin/clusters/province/{province.pk}/change/")
    maps = page.locator(".inline-group [data-leaflet-widget] .leaflet-container")
    expect(maps).to_have_count(cities)

    # The hidden template row has no map; a row added from it gets one.
    page.locator(".inline-group .add-row a").first.click()
    expect(maps).to_have_count(cities + 1)
    assert maps.last.locator(".leaflet-draw").count() == 1
    assert policy.problems() == []


# ---------------------------------------------------------------------------
# API documentation
# ---------------------------------------------------------------------------


def test_swagger_ui_shows_the_operations(page, site, policy):
    page.goto(site + "/api/docs/")
    page.wait_for_selector(".opblock")

    assert "Yangtze Clusters API" in page.locator(".info .title").inner_text()
    assert page.locator(".opblock").count() > 10
    assert policy.problems() == []


def test_redoc_renders_the_api_with_its_styles_and_search(page, site, policy):
    page.goto(site + "/api/redoc/")
    heading = page.locator("h1", has_text="Yangtze Clusters API")
    heading.wait_for()

    # Redoc's injected styles applied (allowed by the nonce): a fixed-width menu.
    assert page.evaluate("getComputedStyle(document.querySelector('.menu-content')).width") == "260px"
    # Search runs in a worker made from a blob: URL.
    page.fill("input.search-input", "cities")
    page.locator("[data-role='search:results'] li").first.wait_for()
    assert policy.problems() == []
