"""Atom feeds of the document and base lists.

A feed follows its list: the query string goes through the list page's own
FilterSet, so `/feeds/bases/?sector=rail-transit-equipment&province=hunan`
carries what `/bases/?sector=rail-transit-equipment&province=hunan` shows,
newest first. Item titles are in the page language, as on the pages.
"""

from dataclasses import dataclass

from django.contrib.syndication.views import Feed
from django.db.models import F
from django.db.models.functions import Coalesce
from django.http import HttpResponseBadRequest
from django.urls import reverse
from django.utils.feedgenerator import Atom1Feed
from django.utils.html import escape
from django.utils.translation import gettext as _

from clusters import views
from clusters.links import absolute_url
from clusters.templatetags.clusters_tags import filter_parameters, local_name, markdown_text

MAX_ITEMS = 50


@dataclass(frozen=True)
class FeedSelection:
    """What one request to a feed asks for: the bound, valid FilterSet and
    the filter parameters it was given."""

    filterset: object
    parameters: object  # QueryDict

    @property
    def query_string(self):
        return f"?{self.parameters.urlencode()}" if self.parameters else ""


class ListFeed(Feed):
    """The Atom feed of a filtered list page (`list_view`, named `list_route`)."""

    feed_type = Atom1Feed
    list_view = None
    list_route = ""
    feed_route = ""
    item_fields = ("slug", "name", "name_zh", "description", "published_at", "updated_at", "created_at")

    def __call__(self, request, *args, **kwargs):
        parameters = filter_parameters(request.GET)
        if contains_nul(parameters):
            # Checked before any query: PostgreSQL fails on NUL in text rather than matching nothing.
            return bad_request([_("Parameters may not contain NUL characters.")])
        filterset = self.list_view.filterset_class(
            parameters, queryset=self.list_view.model.objects.public(), request=request
        )
        if not filterset.is_valid():
            return bad_request([_("These filters are not valid:"), *filter_problems(filterset)])
        selection = FeedSelection(filterset=filterset, parameters=parameters)
        return super().__call__(request, *args, selection=selection, **kwargs)

    def get_object(self, request, *, selection):
        return selection

    def title(self, selection):
        title = str(self.list_view.page_title)
        active = views.active_filters(selection.parameters, selection.filterset)
        chips = [f"{label}: {value}" for label, value, _url in active]
        if chips:
            title = _("%(list)s — %(filters)s") % {"list": title, "filters": "; ".join(chips)}
        return f"{title} · {_('Yangtze Clusters')}"

    def author_name(self):
        # Atom wants an author for the feed when its entries name none.
        return _("Yangtze Clusters")

    def subtitle(self, selection):
        return str(self.list_view.page_description)

    # Absolute URLs on the site's origin: Django would otherwise prefix the
    # request's Host, which a client chooses.
    def link(self, selection):
        return absolute_url(reverse(self.list_route) + selection.query_string)

    def feed_url(self, selection):
        return absolute_url(reverse(self.feed_route) + selection.query_string)

    def item_link(self, record):
        return absolute_url(record.get_absolute_url())

    def items(self, selection):
        # Newest first by publication. Records loaded from fixtures have no
        # published_at (loaddata bypasses save()), so their last update stands in.
        newest = Coalesce("published_at", "updated_at", "created_at")
        queryset = selection.filterset.qs.only(*self.item_fields)
        return queryset.order_by(newest.desc(), F("pk").desc())[:MAX_ITEMS]

    def item_title(self, record):
        # Atom titles are text, not HTML: no escaping here (the default escapes for RSS).
        return local_name(record)

    def item_description(self, record):
        return self.item_text(record) or None

    def item_text(self, record):
        """Plain text, HTML-escaped once: Atom's summary is type="html", and
        escaping makes readers show `<` or `&` as written."""
        return markdown_as_text(record.description)

    def item_pubdate(self, record):
        return record.published_at

    def item_updateddate(self, record):
        return record.updated_at


def markdown_as_text(markdown):
    """Markdown's words without its markup, HTML-escaped once (`R&amp;D`)."""
    return escape(markdown_text(markdown))


def contains_nul(query):
    return any("\x00" in name or any("\x00" in value for value in query.getlist(name)) for name in query)


def filter_problems(filterset):
    return [f"{name}: {' '.join(errors)}" for name, errors in filterset.form.errors.items()]


def bad_request(lines):
    """A plain-text 400: a feed reader or a person reads it, not a page."""
    return HttpResponseBadRequest("\n".join(lines) + "\n", content_type="text/plain; charset=utf-8")


class PolicyDocumentFeed(ListFeed):
    list_view = views.PolicyDocumentListView
    list_route = "clusters:document-list"
    feed_route = "clusters:document-feed"
    item_fields = (*ListFeed.item_fields, "summary")

    def item_text(self, document):
        # The summary is plain text already; the description is Markdown.
        return escape(document.summary) if document.summary else super().item_text(document)


class PlannedBaseFeed(ListFeed):
    list_view = views.PlannedBaseListView
    list_route = "clusters:base-list"
    feed_route = "clusters:base-feed"
