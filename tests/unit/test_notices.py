"""Formal notices (告知书 / 意见书): numbers, templates, PDF text and Chinese line breaking."""

from __future__ import annotations

import dataclasses
import io
import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from pypdf import PdfReader

from bot.notices import (
    SHIPPED_DIR,
    NoticeData,
    NoticeKind,
    NoticeRenderer,
    NoticeTemplateError,
    load_templates,
    render_notice,
)
from bot.notices.layout import CANNOT_END, CANNOT_START, break_lines
from bot.settings import SettingsError, load_settings
from petitions.categories import Category
from petitions.errors import InvalidField, MissingField
from petitions.lifecycle import Action
from petitions.notices import (
    issue_date,
    notice_kind_for,
    notice_number,
    parse_notice_number,
    placeholders,
    required_fields,
)
from petitions.states import Outcome, Redirect

UNIT = "第一分公司信访工作办公室"
ANSWER = "经调查核实，你反映的二〇二五年加班费未足额发放问题属实，公司已于十二月补发。"


def make_data(**changes: object) -> NoticeData:
    data = NoticeData(
        case_number="XF-2026-000123",
        unit=UNIT,
        category=Category.PAY,
        received_on=date(2026, 1, 5),
        issued_on=date(2026, 1, 20),
        outcome=Outcome.NOT_SUPPORTED,
        text=ANSWER,
        reason="所反映事项属于劳动争议，依法应当通过仲裁解决。",
        redirect=Redirect.ARBITRATION,
        extension_days=30,
        due_on=date(2026, 4, 5),
    )
    return dataclasses.replace(data, **changes)


def pdf_pages(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]


def flat(pdf: bytes) -> str:
    # Lines are broken anywhere in Chinese text: compare without whitespace, and
    # without the page numbers (— 2 —) that stand between two pages' text.
    return re.sub(r"\s+", "", re.sub(r"— \d+ —", "", "".join(pdf_pages(pdf))))


# What each kind must show in Chinese: its title and its decision.
EXPECTED_ZH = {
    NoticeKind.ACCEPTANCE: ("受理告知书", "予以受理", "2026年4月5日"),
    NoticeKind.NON_ACCEPTANCE: ("不予受理告知书", "劳动人事争议仲裁", "依法应当通过仲裁解决"),
    NoticeKind.EXTENSION: ("延期办理告知书", "延长30日", "2026年4月5日", "依法应当通过仲裁"),
    NoticeKind.ANSWER: ("答复意见书", "处理意见：不予支持", ANSWER, "30日内"),
    NoticeKind.REVIEW: ("复查意见书", "复查结论：不予支持", ANSWER, "请求复核"),
    NoticeKind.RECHECK: ("复核意见书", "复核结论：不予支持", ANSWER, "不再受理"),
}


@pytest.mark.parametrize("kind", list(NoticeKind))
def test_each_kind_renders_a_chinese_pdf_with_case_unit_date_and_decision(kind: NoticeKind):
    pdf = render_notice(kind, make_data(), "zh_CN")

    assert pdf.startswith(b"%PDF-")
    text = flat(pdf)
    assert "XF-2026-000123" in text
    assert f"编号：XF-2026-000123-{kind.number_suffix}" in text
    assert UNIT in text
    assert "2026年1月20日" in text
    assert "信访人：（匿名）" in text
    assert "（印章）" in text
    for expected in EXPECTED_ZH[kind]:
        assert expected in text, expected


@pytest.mark.parametrize("outcome", list(Outcome))
def test_the_answer_names_each_outcome_in_chinese(outcome: Outcome):
    labels = {
        Outcome.SUPPORTED: "处理意见：支持",
        Outcome.EXPLAINED: "处理意见：解释说明",
        Outcome.NOT_SUPPORTED: "处理意见：不予支持",
    }
    text = flat(render_notice(NoticeKind.ANSWER, make_data(outcome=outcome), "zh_CN"))
    assert labels[outcome] in text


def test_a_real_name_petitioner_is_addressed_without_the_identity():
    text = flat(render_notice(NoticeKind.ACCEPTANCE, make_data(anonymous=False), "zh_CN"))
    assert "信访人：实名（身份封存）" in text
    assert "（匿名）" not in text


def test_the_english_locale_renders_english():
    pdf = render_notice(NoticeKind.ANSWER, make_data(outcome=Outcome.SUPPORTED), "en")
    text = " ".join(" ".join(pdf_pages(pdf)).split())

    assert "Written Answer to a Petition" in text
    assert "No. XF-2026-000123-答复" in text
    assert "Decision: supported" in text
    assert "January 20, 2026" in text
    assert "Pay and benefits" in text
    assert "To the petitioner: (anonymous)" in text
    assert "答复意见书" not in text


def test_an_unknown_locale_falls_back_to_chinese():
    text = flat(render_notice(NoticeKind.ACCEPTANCE, make_data(), "fr"))
    assert "信访事项受理告知书" in text


def test_a_4000_character_answer_wraps_onto_several_pages_in_full():
    sentence = "经查，你反映的问题涉及“岗位调整”和（绩效考核）两项，均已核实。"
    long_text = (sentence * 200)[:4000]
    pdf = render_notice(NoticeKind.ANSWER, make_data(text=long_text), "zh_CN")

    pages = pdf_pages(pdf)
    assert len(pages) >= 4
    assert long_text in flat(pdf)
    # The signature closes the last page, with the last paragraph, never alone.
    assert "特此答复" in pages[-1] and UNIT in pages[-1]


def test_a_multi_paragraph_answer_keeps_its_paragraphs():
    pdf = render_notice(NoticeKind.ANSWER, make_data(text="第一段。\n\n第二段。"), "zh_CN")
    lines = [line.strip() for line in pdf_pages(pdf)[0].splitlines()]
    assert "第一段。" in lines and "第二段。" in lines


def test_the_same_notice_gives_the_same_bytes():
    assert render_notice(NoticeKind.REVIEW, make_data(), "zh_CN") == render_notice(
        NoticeKind.REVIEW, make_data(), "zh_CN"
    )


def test_a_notice_without_its_decision_fields_is_refused():
    with pytest.raises(MissingField) as missing:
        render_notice(NoticeKind.NON_ACCEPTANCE, make_data(redirect=None), "zh_CN")
    assert missing.value.params == {"field": "redirect"}
    with pytest.raises(MissingField):
        render_notice(NoticeKind.ANSWER, make_data(text="  "), "zh_CN")
    with pytest.raises(InvalidField):
        render_notice(NoticeKind.ANSWER, make_data(case_number="123"), "zh_CN")


def test_the_data_type_has_no_field_for_the_petitioners_identity():
    names = {f.name for f in dataclasses.fields(NoticeData)}
    # Exactly these: a new field must be added here, on purpose, after a privacy review.
    assert names == {
        "case_number",
        "unit",
        "category",
        "received_on",
        "issued_on",
        "anonymous",
        "outcome",
        "text",
        "reason",
        "redirect",
        "extension_days",
        "due_on",
        "review_request_days",
        "review_unit",  # a unit's name (the 复查 / 复核 deciding unit), never a person
        "issue",
    }
    identity_words = ("name", "phone", "staff", "contact", "chat", "user", "tracking", "ident")
    assert not [n for n in names if any(word in n for word in identity_words)]
    for kind in NoticeKind:
        assert set(required_fields(kind)) <= names


# --- numbers and the domain table -------------------------------------------------------


def test_each_kind_has_its_own_notice_number_and_it_parses_back():
    numbers = {notice_number("XF-2026-000123", kind) for kind in NoticeKind}
    assert len(numbers) == len(NoticeKind)
    assert notice_number("xf-2026-000123", NoticeKind.ACCEPTANCE) == "XF-2026-000123-受理"
    assert notice_number("XF-2026-000123", NoticeKind.ANSWER, 2) == "XF-2026-000123-答复-2"
    for kind in NoticeKind:
        for issue in (1, 3):
            number = notice_number("XF-2026-000123", kind, issue)
            assert parse_notice_number(number) == ("XF-2026-000123", kind, issue)
    assert parse_notice_number("XF-2026-000123-答复-1") is None
    assert parse_notice_number("XF-2026-000123-批复") is None
    assert parse_notice_number("XF-2026-000123") is None
    with pytest.raises(InvalidField):
        notice_number("not a case", NoticeKind.ANSWER)


def test_the_notice_date_is_the_day_in_shanghai():
    assert issue_date(datetime(2026, 1, 19, 16, 30, tzinfo=UTC)) == date(2026, 1, 20)
    assert issue_date(datetime(2026, 1, 19, 15, 59)) == date(2026, 1, 19)


def test_formal_acts_map_to_their_notices():
    assert notice_kind_for(Action.ACCEPT) is NoticeKind.ACCEPTANCE
    assert notice_kind_for(Action.NOT_ACCEPT) is NoticeKind.NON_ACCEPTANCE
    assert notice_kind_for(Action.EXTEND) is NoticeKind.EXTENSION
    assert notice_kind_for(Action.RESPOND) is NoticeKind.ANSWER
    assert notice_kind_for(Action.COMPLETE_REVIEW) is NoticeKind.REVIEW
    assert notice_kind_for(Action.COMPLETE_REVIEW, review_level=2) is NoticeKind.RECHECK
    assert notice_kind_for(Action.START) is None


# --- templates --------------------------------------------------------------------------


def test_every_shipped_template_exists_for_both_locales():
    for locale in ("zh_CN", "en"):
        for kind in NoticeKind:
            assert (SHIPPED_DIR / locale / f"{kind.value}.txt").is_file()
    templates = load_templates()
    assert templates.get(NoticeKind.ANSWER, "zh_CN").title == "信访事项答复意见书"


CUSTOM_ANSWER = """title: 集团信访答复书
number: 文号：{notice_number}
---
经办单位：{unit}。结论：{outcome}。
{text}
---
{unit}
{date}
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_a_replacement_template_folder_is_used_and_missing_files_fall_back(tmp_path: Path):
    write(tmp_path / "zh_CN" / "answer.txt", CUSTOM_ANSWER)
    write(tmp_path / "zh_CN" / "labels.txt", "anonymous: 匿名信访人\n")
    renderer = NoticeRenderer.from_folder(tmp_path)

    answer = flat(renderer.render(NoticeKind.ANSWER, make_data(), "zh_CN"))
    assert "集团信访答复书" in answer
    assert "文号：XF-2026-000123-答复" in answer
    assert f"经办单位：{UNIT}。结论：不予支持。" in answer
    assert "信访事项答复意见书" not in answer

    accepted = flat(renderer.render(NoticeKind.ACCEPTANCE, make_data(), "zh_CN"))
    assert "信访事项受理告知书" in accepted  # the shipped one
    assert "信访人：匿名信访人" in accepted  # the replaced label
    english = flat(renderer.render(NoticeKind.ANSWER, make_data(), "en"))
    assert "WrittenAnswertoaPetition" in english


def test_the_setting_points_at_the_template_folder(tmp_path: Path):
    settings = load_settings({"XINFANG_NOTICE_TEMPLATES": str(tmp_path)})
    assert settings.notice_templates == tmp_path
    assert load_settings({}).notice_templates is None
    with pytest.raises(SettingsError, match="XINFANG_NOTICE_TEMPLATES"):
        load_settings({"XINFANG_NOTICE_TEMPLATES": str(tmp_path / "nowhere")})


def test_an_unknown_placeholder_fails_when_the_templates_are_loaded(tmp_path: Path):
    bad = CUSTOM_ANSWER.replace("{text}", "{text}（信访人：{petitioner_name}）")
    path = write(tmp_path / "zh_CN" / "answer.txt", bad)

    with pytest.raises(NoticeTemplateError) as error:
        load_templates(tmp_path)
    message = str(error.value)
    assert f"{path}:5" in message
    assert "unknown placeholder {petitioner_name}" in message
    assert "{outcome}" in message and "{text}" in message  # what it may use instead


def test_a_placeholder_of_another_kind_is_refused(tmp_path: Path):
    text = (SHIPPED_DIR / "zh_CN" / "acceptance.txt").read_text(encoding="utf-8")
    write(tmp_path / "zh_CN" / "acceptance.txt", text.replace("{due_date}", "{outcome}"))
    with pytest.raises(NoticeTemplateError, match="unknown placeholder {outcome}"):
        load_templates(tmp_path)
    assert "outcome" not in placeholders(NoticeKind.ACCEPTANCE)
    assert "outcome" in placeholders(NoticeKind.ANSWER)


@pytest.mark.parametrize(
    ("name", "text", "complaint"),
    [
        ("answer.txt", "title: 答复\nnumber: {notice_number}\n{unit}{date}\n", "three parts"),
        ("answer.txt", CUSTOM_ANSWER.replace("{text}", "{text:>10}"), "without ':'"),
        ("answer.txt", CUSTOM_ANSWER.replace("{text}", "{text"), "literal braces"),
        ("answer.txt", CUSTOM_ANSWER.replace("title: ", "heading: "), "keys"),
        ("answer.txt", CUSTOM_ANSWER.replace("{date}", "（日期）"), "must show {date}"),
        ("answers.txt", CUSTOM_ANSWER, "not a notice template"),
        ("labels.txt", "anonymous: {unit}\n", "unknown placeholder {unit}"),
    ],
)
def test_a_broken_template_is_refused_with_the_reason(
    tmp_path: Path, name: str, text: str, complaint: str
):
    write(tmp_path / "zh_CN" / name, text)
    with pytest.raises(NoticeTemplateError, match=re.escape(complaint)):
        load_templates(tmp_path)


def test_a_misnamed_locale_folder_is_refused(tmp_path: Path):
    write(tmp_path / "zh-CN" / "answer.txt", CUSTOM_ANSWER)
    with pytest.raises(NoticeTemplateError, match="not a locale folder"):
        load_templates(tmp_path)


def test_a_font_without_chinese_glyphs_is_refused_at_load(tmp_path: Path):
    import matplotlib

    dejavu = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    (tmp_path / "font.ttf").write_bytes(dejavu.read_bytes())
    with pytest.raises(NoticeTemplateError, match="has no glyph for"):
        load_templates(tmp_path)


WQY = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")


@pytest.mark.skipif(not WQY.is_file(), reason="needs Debian's fonts-wqy-microhei")
def test_a_deployments_font_is_embedded(tmp_path: Path):
    (tmp_path / "font.ttc").write_bytes(WQY.read_bytes())
    pdf = NoticeRenderer.from_folder(tmp_path).render(NoticeKind.ANSWER, make_data(), "zh_CN")

    assert ANSWER in flat(pdf)
    fonts = PdfReader(io.BytesIO(pdf)).pages[0]["/Resources"]["/Font"]
    # ReportLab embeds a TrueType font as subsets of 256 glyphs, each a simple font.
    embedded = [f.get_object() for f in fonts.values() if "/FontDescriptor" in f.get_object()]
    assert embedded and all("/FontFile2" in f["/FontDescriptor"] for f in embedded)


# --- Chinese line breaking --------------------------------------------------------------


def measure(text: str) -> float:
    # Wide characters one unit, narrow ones half a unit: enough to test the rules.
    from bot.notices.layout import is_wide

    return sum(1.0 if is_wide(c) else 0.5 for c in text)


def test_lines_never_start_with_closing_nor_end_with_opening_punctuation():
    text = "你好，世界。“引号”测试（括号）：结束！" * 30
    for width in range(4, 20):
        lines = break_lines(text, float(width), measure)
        assert "".join(lines) == text
        for line in lines[1:]:
            assert line[0] not in CANNOT_START, (width, line)
        for line in lines[:-1]:
            assert line[-1] not in CANNOT_END, (width, line)


def test_a_latin_word_stays_whole_and_an_overlong_one_is_cut():
    lines = break_lines("案件编号XF-2026-000123已受理", 10.0, measure)
    assert lines == ["案件编号", "XF-2026-000123已受理"]  # 4 + 7 + 3 > 10: the word moves
    cut = break_lines("案件XF-2026-000123", 5.0, measure)
    assert "".join(cut) == "案件XF-2026-000123"
    assert all(measure(line) <= 5.0 for line in cut)
    english = break_lines("the quick brown fox jumps over", 6.0, measure)
    assert english == ["the quick", "brown fox", "jumps over"]


def test_the_first_line_leaves_room_for_the_indent():
    lines = break_lines("一二三四五六七八九十", 6.0, measure, first_indent=2.0)
    assert lines == ["一二三四", "五六七八九十"]
