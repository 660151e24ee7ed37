"""The one rule for spreadsheet cells (clusters.spreadsheet)."""

import pytest

from clusters.spreadsheet import FORMULA_STARTS, restore, spreadsheet_safe

TEXTS = ["", "plain", "'", "''", "'plain", "1-1", "a=b", *FORMULA_STARTS]
TEXTS += [start + "1" for start in FORMULA_STARTS]
TEXTS += ["'" + text for text in TEXTS] + ["''" + text for text in TEXTS]


@pytest.mark.parametrize("text", TEXTS)
def test_no_written_cell_starts_a_formula_and_each_reads_back_exactly(text):
    cell = spreadsheet_safe(text)
    assert not cell.startswith(FORMULA_STARTS)
    assert restore(cell) == text


def test_only_text_that_would_run_is_changed():
    assert spreadsheet_safe("=1+1") == "'=1+1"
    assert spreadsheet_safe("'=1+1") == "''=1+1"
    assert spreadsheet_safe("'plain") == "'plain"
    assert restore("'plain") == "'plain"


@pytest.mark.parametrize("number", [-5, -0.5, 3])
def test_numbers_are_written_as_they_are(number):
    assert spreadsheet_safe(number) == number
    assert restore(number) == number
