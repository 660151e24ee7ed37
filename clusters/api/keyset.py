"""Cursors: positions in a sorted list, so that `next` links stay fast at
any depth.

A page number makes the database walk past every earlier row (OFFSET): page
2,000 of 100,000 bases read 100,000 index entries. A cursor names the last
row shown (its sort values and primary key) and the next page is read from
there through the sort's index, so it costs what page 2 does.

The cursor is opaque to clients (URL-safe base64 of JSON) and tied to the
sort it was made for; a cursor from another sort, or one tampered with, is
refused with a message rather than guessed at.
"""

import base64
import binascii
import json
from dataclasses import dataclass

from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db.models import F, Q
from django.db.models.expressions import OrderBy


class BadCursor(ValueError):
    pass


NOT_OURS = "Not a cursor this API gave out; follow the `next` link as given."


@dataclass(frozen=True)
class SortKey:
    field: object
    descending: bool

    @property
    def label(self):
        return f"-{self.field.name}" if self.descending else self.field.name


@dataclass(frozen=True)
class Position:
    """Page `number`, which starts after the row with these sort values."""

    values: tuple
    number: int


def sort_keys(queryset):
    """The queryset's ordering as SortKeys ending with the primary key; None
    when a cursor cannot name it (an expression, a field across a relation,
    NULLs not placed as `beyond` expects, no primary key last)."""
    meta = queryset.model._meta
    keys = []
    for item in queryset.query.order_by:
        nulls_placed = False
        if isinstance(item, str):
            name, descending = item.removeprefix("-"), item.startswith("-")
        elif isinstance(item, OrderBy) and isinstance(item.expression, F):
            name, descending = item.expression.name, item.descending
            nulls_placed = bool(item.nulls_last if descending else item.nulls_first)
        else:
            return None
        try:
            field = meta.pk if name == "pk" else meta.get_field(name)
        except FieldDoesNotExist:
            return None
        if field.is_relation or not field.concrete or (field.null and not nulls_placed):
            return None
        keys.append(SortKey(field, descending))
    if not keys or keys[-1].field is not meta.pk:
        return None
    return keys


def encode(keys, row, number):
    """The cursor of page `number`, which starts after `row`."""
    values = [stored_text(key.field, row) for key in keys]
    payload = {"sort": [key.label for key in keys], "after": values, "page": number}
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def stored_text(field, row):
    return None if field.value_from_object(row) is None else field.value_to_string(row)


def decode(cursor, keys):
    """The Position a cursor names, checked against this list's sort."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        payload = json.loads(text)
        sort, after, number = payload["sort"], payload["after"], payload["page"]
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError, KeyError) as error:
        raise BadCursor(NOT_OURS) from error
    if sort != [key.label for key in keys]:
        raise BadCursor("This cursor belongs to a list in another order; keep `ordering` as it was.")
    if not isinstance(after, list) or len(after) != len(keys) or type(number) is not int or number < 2:
        raise BadCursor(NOT_OURS)
    try:
        pairs = zip(keys, after, strict=True)
        values = tuple(None if value is None else key.field.to_python(value) for key, value in pairs)
    except (ValidationError, TypeError) as error:
        raise BadCursor(NOT_OURS) from error
    if values[-1] is None:
        raise BadCursor(NOT_OURS)
    return Position(values, number)


def after(queryset, keys, values):
    """The rows that come after the row with `values`, in the queryset's order:
    (a > x) or (a = x and b > y) or … down to the primary key, with a range
    on the first key that lets the database start reading at the position."""
    later, same = Q(pk__in=[]), Q()
    for key, value in zip(keys, values, strict=True):
        later |= same & beyond(key, value)
        same &= Q(**{f"{key.field.name}__isnull": True}) if value is None else Q(**{key.field.name: value})
    return queryset.filter(later, from_position(keys[0], values[0]))


def beyond(key, value):
    """This key's values that sort after `value` (NULLs first ascending,
    last descending)."""
    name, nullable = key.field.name, key.field.null
    if value is None:
        return Q(pk__in=[]) if key.descending else Q(**{f"{name}__isnull": False})
    if key.descending:
        lower = Q(**{f"{name}__lt": value})
        return lower | Q(**{f"{name}__isnull": True}) if nullable else lower
    return Q(**{f"{name}__gt": value})


def from_position(key, value):
    """A range on the first key that contains every later row."""
    name = key.field.name
    if value is None:
        return Q() if not key.descending else Q(**{f"{name}__isnull": True})
    if key.descending:
        upper = Q(**{f"{name}__lte": value})
        return upper | Q(**{f"{name}__isnull": True}) if key.field.null else upper
    return Q(**{f"{name}__gte": value})
