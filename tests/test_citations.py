"""The citation checker (app/citations.py): valid, invalid and missing citations, and the
passage span each cited sentence is tied to."""

from __future__ import annotations

from app.citations import check_citations, summary, support_span, uncited

PASSAGE_1 = ("## 年假\n星澜科技的员工每年享有十五个工作日的带薪年假。入职满十年的员工再加五天。"
             "年假须提前一周申请。")
PASSAGE_2 = "Taxi fares after 22:00 are refunded up to 120 yuan per ride. Keep the receipt."
SOURCES = [
    {"number": 1, "text": PASSAGE_1, "start_char": 100, "name": "handbook.md"},
    {"number": 2, "text": PASSAGE_2, "start_char": 0, "name": "travel.md"},
]


def test_valid_citations_are_tied_to_the_sentence_that_supports_them() -> None:
    reply = "员工每年有十五个工作日的带薪年假[1]。晚上十点以后打车，每次最多报销120元。[2]"
    found = check_citations(reply, SOURCES)
    assert [(c.number, c.valid) for c in found] == [(1, True), (2, True)]
    first, second = found
    assert first.sentence == "员工每年有十五个工作日的带薪年假"
    assert first.support_text == "星澜科技的员工每年享有十五个工作日的带薪年假。"
    # Offsets are the document's: the passage starts at character 100 of it.
    assert first.support_start == 100 + PASSAGE_1.index("星澜")
    assert first.support_end == 100 + PASSAGE_1.index("入职")
    assert second.sentence == "晚上十点以后打车，每次最多报销120元。"
    assert second.support_text.startswith("Taxi fares after 22:00")  # the number in common
    assert reply[first.start:first.end] == "[1]"
    assert summary(found) == {"citations": 2, "invalid": 0, "supported": 2}


def test_citations_to_sources_that_were_not_given_are_marked() -> None:
    reply = "年假须提前一周申请[3]，详见手册【1】。Also see [1, 4] and [2](http://x)."
    found = check_citations(reply, SOURCES)
    assert [(c.number, c.valid) for c in found] == [(3, False), (1, True), (1, True),
                                                    (4, False)]
    assert found[0].support_start is None and found[0].sentence == "年假须提前一周申请"
    assert check_citations("见[1]。", []) [0].valid is False  # no sources at all
    assert summary(found)["invalid"] == 2


def test_a_citation_nothing_supports_has_no_span() -> None:
    found = check_citations("火星上有两颗卫星。[1]", SOURCES)
    assert found[0].valid and found[0].support_start is None
    assert support_span("", PASSAGE_1) is None


def test_missing_citations_are_found() -> None:
    reply = "员工每年享有十五个工作日的带薪年假。年假须提前一周申请[1]。祝你假期愉快！"
    assert check_citations("没有引用的回答。", SOURCES) == []
    missing = uncited(reply, SOURCES)
    assert [(m.number, m.sentence) for m in missing] == [
        (1, "员工每年享有十五个工作日的带薪年假。")]
