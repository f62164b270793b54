"""Every case of the bad-input corpus: the right exit code, one line naming the file or flag,
no traceback, nothing that existed changed, and the row in docs/bad-inputs.md still true."""

from __future__ import annotations

import re

import pytest

from tests.reliability.bad_inputs import (
    CASES,
    DOC,
    PAYLOAD_MARK,
    Case,
    build_corpus,
    read_doc_rows,
    run_case,
    shown_message,
)

DOC_ROWS = read_doc_rows() if DOC.is_file() else {}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad-inputs") / "corpus"
    build_corpus(root)
    return root


def _param(case: Case):
    marks = [pytest.mark.xfail(strict=True, reason=case.xfail)] if case.xfail else []
    return pytest.param(case, id=case.id, marks=marks)


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_bad_input_is_refused_clearly(case: Case, corpus):
    outcome = run_case(case, corpus)
    assert outcome.error is None, outcome.error
    assert outcome.code == case.code, outcome.stderr
    assert outcome.changed == [], "files that existed were changed"
    if case.shows:
        assert outcome.notice is not None, f"no line starting {case.shows!r} on stdout"
    if case.code:
        assert "Traceback" not in outcome.stderr
        message = outcome.message
        assert message.startswith("segcompress"), message
        for name in case.names:
            assert name in message, message
        if not re.match(r"segcompress [\w ]+: error: argument", message):
            # Our own errors are one line; argparse's add its usage lines above theirs.
            assert outcome.lines == [message], outcome.stderr
    regenerate = "regenerate it: python -m tests.reliability.bad_inputs"
    row = DOC_ROWS.get(case.id)
    assert row is not None, f"{case.id} is missing from {DOC}; {regenerate}"
    assert row[3].split()[0] == str(case.code), f"{DOC}: wrong exit code; {regenerate}"
    assert row[4] == shown_message(outcome, corpus), f"{DOC} is out of date; {regenerate}"


def test_docs_table_lists_exactly_the_cases():
    assert list(DOC_ROWS) == [c.id for c in CASES]


def test_the_code_running_pickle_really_would_run_code(corpus, tmp_path):
    """The hostile checkpoint is a real threat: plain pickle would run its payload."""
    import pickle

    with open(corpus / "bad" / "evil.pt", "rb") as fh:
        pickle.load(fh)
    assert (corpus / PAYLOAD_MARK).read_text() == PAYLOAD_MARK
    (corpus / PAYLOAD_MARK).unlink()
