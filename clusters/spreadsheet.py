"""The one rule for text the project writes into a spreadsheet cell.

A spreadsheet opening a CSV takes a cell that begins with `=`, `+`, `-` or
`@` (or a tab or carriage return before one) for a formula and runs it:
`=HYPERLINK(...)` in a record's name would run in every reader's
spreadsheet. Such text is written with an apostrophe in front, which
spreadsheets show as the text itself. Text that already begins with
apostrophes before one of those characters gets one more, so that taking
one apostrophe off (`restore`, when a CSV is imported) always gives back the
original text exactly, whatever it began with.

Numbers are written as they are: -5 is a number, not a formula. Only text is
escaped, even text that looks like a number ("-5" in a name stays the text
"-5", not a number the spreadsheet would reformat).
"""

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
ESCAPE = "'"


def needs_escape(text):
    return text.lstrip(ESCAPE).startswith(FORMULA_STARTS)


def spreadsheet_safe(value):
    """The cell to write for `value`: text a spreadsheet would run, escaped."""
    if isinstance(value, str) and needs_escape(value):
        return ESCAPE + value
    return value


def restore(value):
    """The text `spreadsheet_safe` was given, from the cell it wrote."""
    if isinstance(value, str) and value.startswith(ESCAPE) and needs_escape(value):
        return value[1:]
    return value
