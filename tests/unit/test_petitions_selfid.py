"""Self-identifying details in anonymous petition text: what is found, what is not, masking."""

from __future__ import annotations

import re

import pytest

from petitions.selfid import (
    MASK,
    Finding,
    Kind,
    compile_staff_pattern,
    find_identifying,
    mask,
)

K = Kind


# --- builders (no real person's numbers: every 身份证 here is computed) ----------------------


def id_check_char(first17: str) -> str:
    """GB 11643 check character, computed independently of the module (weights 2^k mod 11)."""
    total = sum(int(d) * pow(2, 17 - i, 11) for i, d in enumerate(first17))
    return "10X98765432"[total % 11]


def luhn_ok(number: str) -> bool:
    digits = [int(d) for d in number]
    odd = digits[-1::-2]
    even = [sum(divmod(2 * d, 10)) for d in digits[-2::-2]]
    return (sum(odd) + sum(even)) % 10 == 0


def luhn_complete(body: str) -> str:
    """Append the digit that makes ``body`` pass the Luhn check."""
    return next(body + d for d in "0123456789" if luhn_ok(body + d))


def make_id(region: str = "110105", birth: str = "19800229", seq: str = "123") -> str:
    first17 = region + birth + seq
    return first17 + id_check_char(first17)


def id_where(predicate, region: str = "320102", birth: str = "19761103") -> str:
    """The first computed 身份证 (valid checksum) whose number satisfies ``predicate``."""
    for n in range(1000):
        number = make_id(region, birth, f"{n:03d}")
        if predicate(number):
            return number
    raise AssertionError("no such number")


def wrong_check(number: str, *, luhn: bool) -> str:
    """The same 17 digits with a wrong check digit, passing or failing the Luhn check."""
    for d in "0123456789":
        candidate = number[:17] + d
        if d != number[17] and luhn_ok(candidate) == luhn:
            return candidate
    raise AssertionError("no such digit")


def full_width(text: str) -> str:
    """What a Chinese input method in full-width mode types for ASCII characters."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def found(text: str, staff_no: re.Pattern[str] | None = None) -> list[tuple[Kind, str]]:
    return [(f.kind, text[f.start : f.end]) for f in find_identifying(text, staff_no=staff_no)]


VALID_ID = make_id()
VALID_ID_X = id_where(lambda n: n.endswith("X"))
VALID_ID_LUHN = id_where(lambda n: n[-1].isdigit() and luhn_ok(n))
CARD_16 = luhn_complete("622202123456789")
CARD_19 = luhn_complete("621700123456789012")
STAFF = compile_staff_pattern(r"[A-Z]{2}\d{6}")


def test_the_builders_agree_with_the_published_example_of_the_standard() -> None:
    # GB 11643-1999 uses 11010519491231002X as its worked example.
    assert id_check_char("11010519491231002") == "X"
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")


def test_kind_codes_are_stable_for_message_ids() -> None:
    assert [k.value for k in Kind] == [
        "mobile",
        "landline",
        "id_card",
        "email",
        "bank_card",
        "staff_no",
        "name",
    ]


# --- what is found --------------------------------------------------------------------------

POSITIVES = [
    # mobile numbers
    ("我的手机是13812345678，请联系我", [(K.MOBILE, "13812345678")]),
    ("电话：138 1234 5678", [(K.MOBILE, "138 1234 5678")]),
    ("电话:138-1234-5678。", [(K.MOBILE, "138-1234-5678")]),
    ("号码 138 - 1234 - 5678 有事打", [(K.MOBILE, "138 - 1234 - 5678")]),
    ("手机13812345678", [(K.MOBILE, "13812345678")]),
    ("联系+86 138 1234 5678找我", [(K.MOBILE, "+86 138 1234 5678")]),
    ("联系0086-13912345678", [(K.MOBILE, "0086-13912345678")]),
    ("联系8615912345678", [(K.MOBILE, "8615912345678")]),
    ("（＋86）19912345678", [(K.MOBILE, "（＋86）19912345678")]),
    ("手机１３８１２３４５６７８", [(K.MOBILE, "１３８１２３４５６７８")]),
    ("手机：１３８　１２３４　５６７８。", [(K.MOBILE, "１３８　１２３４　５６７８")]),
    ("手机１３８－１２３４－５６７８", [(K.MOBILE, "１３８－１２３４－５６７８")]),
    ("call me at 17712345678.", [(K.MOBILE, "17712345678")]),
    (
        "电话13812345678、13912345678都行",
        [(K.MOBILE, "13812345678"), (K.MOBILE, "13912345678")],
    ),
    (
        "电话13812345678 13912345678都行",
        [(K.MOBILE, "13812345678"), (K.MOBILE, "13912345678")],
    ),
    # landlines
    ("办公室电话010-12345678", [(K.LANDLINE, "010-12345678")]),
    ("家里(0571)87654321", [(K.LANDLINE, "(0571)87654321")]),
    ("家里（0571）87654321", [(K.LANDLINE, "（0571）87654321")]),
    ("座机021 6123 4567。", [(K.LANDLINE, "021 6123 4567")]),
    ("座机0755-8765432转123", [(K.LANDLINE, "0755-8765432转123")]),
    ("分机010-62345678-123", [(K.LANDLINE, "010-62345678-123")]),
    ("座机０２０－８７６５４３２１", [(K.LANDLINE, "０２０－８７６５４３２１")]),
    ("座机02887654321", [(K.LANDLINE, "02887654321")]),
    # 身份证
    (f"身份证号{VALID_ID}。", [(K.ID_CARD, VALID_ID)]),
    (f"身份证号{VALID_ID_X}，", [(K.ID_CARD, VALID_ID_X)]),
    (f"身份证号{VALID_ID_X.lower()}", [(K.ID_CARD, VALID_ID_X.lower())]),
    (f"证件 {full_width(VALID_ID)}", [(K.ID_CARD, full_width(VALID_ID))]),
    (
        f"身份证 {VALID_ID[:6]} {VALID_ID[6:14]} {VALID_ID[14:]}",
        [(K.ID_CARD, f"{VALID_ID[:6]} {VALID_ID[6:14]} {VALID_ID[14:]}")],
    ),
    ("老身份证110105491231002", [(K.ID_CARD, "110105491231002")]),
    # an ID that also passes the Luhn check is reported as an ID
    (f"号码{VALID_ID_LUHN}", [(K.ID_CARD, VALID_ID_LUHN)]),
    # e-mail
    ("邮箱zhangsan@163.com。", [(K.EMAIL, "zhangsan@163.com")]),
    ("E-mail: li.si+xf@example.com.cn, thanks", [(K.EMAIL, "li.si+xf@example.com.cn")]),
    ("邮箱ｚｈａｎｇ＠ｑｑ．ｃｏｍ", [(K.EMAIL, "ｚｈａｎｇ＠ｑｑ．ｃｏｍ")]),
    ("邮箱wang_wu@qq。com", [(K.EMAIL, "wang_wu@qq。com")]),
    ("发到13812345678@qq.com吧", [(K.EMAIL, "13812345678@qq.com")]),
    # bank cards
    (f"工资卡{CARD_16}", [(K.BANK_CARD, CARD_16)]),
    (f"卡号{CARD_19}。", [(K.BANK_CARD, CARD_19)]),
    (
        f"卡号 {CARD_16[:4]} {CARD_16[4:8]} {CARD_16[8:12]} {CARD_16[12:]}",
        [(K.BANK_CARD, f"{CARD_16[:4]} {CARD_16[4:8]} {CARD_16[8:12]} {CARD_16[12:]}")],
    ),
    (f"卡号{full_width(CARD_16)}", [(K.BANK_CARD, full_width(CARD_16))]),
    # an 18-digit number failing the 身份证 checksum may still be a bank card
    (
        f"号码{wrong_check(VALID_ID, luhn=True)}",
        [(K.BANK_CARD, wrong_check(VALID_ID, luhn=True))],
    ),
    # names
    ("我是张三，在二车间上班", [(K.NAME, "张三")]),
    ("本人李四反映车间主任克扣奖金", [(K.NAME, "李四")]),
    ("我叫王小明。", [(K.NAME, "王小明")]),
    ("我的名字是欧阳娜娜", [(K.NAME, "欧阳娜娜")]),
    ("我的名字叫诸葛亮", [(K.NAME, "诸葛亮")]),
    ("本人姓名：赵六", [(K.NAME, "赵六")]),
    ("反映人：陈晨", [(K.NAME, "陈晨")]),
    ("我是三车间职工刘洋，今年45岁", [(K.NAME, "刘洋")]),
    ("我是员工黄磊，", [(K.NAME, "黄磊")]),
    ("鄙人孙悟空在此", [(K.NAME, "孙悟空")]),
    ("本人张三系某某公司职工", [(K.NAME, "张三")]),
    ("我叫王向东，", [(K.NAME, "王向东")]),
    ("本人张三向公司反映", [(K.NAME, "张三")]),
    ("本人刘洋，男，1985年出生", [(K.NAME, "刘洋")]),
    ("我是 周杰", [(K.NAME, "周杰")]),
    ("我是于谦。", [(K.NAME, "于谦")]),
    ("My name is Zhang San.", [(K.NAME, "Zhang San")]),
    ("Hello, my name is Li and I work here", [(K.NAME, "Li")]),
    ("MY NAME IS ZHANG Wei", [(K.NAME, "ZHANG Wei")]),
]


@pytest.mark.parametrize(("text", "expected"), POSITIVES, ids=[t for t, _ in POSITIVES])
def test_identifying_details_are_found_where_they_were_written(text, expected) -> None:
    assert found(text) == expected


NEGATIVES = [
    # money, dates, counts
    "工资 3000 元",
    "欠薪 12000，已经三个月了",
    "共计 1380000 元",
    "2026年3月15日",
    "20260315",
    "2026-03-15",
    "2026/03/15 至 2026/04/15",
    "第 13812 号文件",
    "圆周率3.14159265358",
    "金额 13812345678.50 元",
    # the system's own numbers
    "案件编号 XF-2026-000123",
    "查询码 ABCD-EFGH-JKMN-PQRS",
    "查询码 7K3M-9QXZ-0A1B-2C4D",
    "查询码 7K3M-0571-8765-4321",
    # numbers inside longer numbers or codes
    "订单号 913812345678",
    "订单号 13812345678901",
    "编号A13812345678",
    "编号13812345678B",
    "12812345678",
    f"订单9{VALID_ID}1",
    f"订单{CARD_16}12345",
    # failing checks
    f"号码{wrong_check(VALID_ID, luhn=False)}",
    f"号码{VALID_ID[:17]}{'1' if VALID_ID[17] == 'X' else 'X'}",
    f"号码{id_where(lambda n: n[-1] == 'X', birth='19491331')}",
    "号码110105491331002",
    f"卡号{CARD_16[:15]}{(int(CARD_16[15]) + 1) % 10}",
    # not e-mail
    "user@localhost",
    "a@1.2.3",
    "@qq.com",
    # not names
    "我是一名普通职工",
    "我是车间工人",
    "本人认为这不公平",
    "我是被冤枉的",
    "我是马上要退休的老职工",
    "我是高级工程师",
    "本人于去年三月入职",
    "本人于2020年入职",
    "本人向公司反映过多次",
    "本人曾多次反映",
    "本人任职于三车间",
    "本人陈述如下",
    "本人郑重承诺",
    "我是江西人",
    "我是黄石的职工",
    "我是石化厂的",
    "我是王师傅",
    "我是王经理的下属",
    "我是张某",
    "我是王姓职工",
    "我是周一被辞退的",
    "我是万不得已才来反映的",
    "本人方才得知",
    "我是在2024年入职的",
    "我是从外地调来的",
    "我是真的没办法了",
    "我是党员",
    "我是临时工",
    "本人身体不好",
    "本人一直兢兢业业",
    "我叫不出他的名字",
    "my name is not important",
    "My name is Anonymous",
    "2025年12月起，公司拖欠我们班组12名职工工资共计36000元，车间主任说要等到2026年3月15日"
    "才能发放。我们多次向人力资源部反映（打了不下10次电话），至今没有答复。本人认为这违反了"
    "劳动合同法第30条。",
]


@pytest.mark.parametrize("text", NEGATIVES)
def test_ordinary_text_is_not_flagged(text) -> None:
    assert found(text) == []


# --- spans, order and overlaps --------------------------------------------------------------


def test_spans_refer_to_the_original_text_after_wide_characters_and_emoji() -> None:
    text = "😀（全角）电话：１３８　１２３４　５６７８，邮箱ａｂ＠ｃｄ．ｃｎ"
    findings = find_identifying(text)
    assert [f.value(text) for f in findings] == ["１３８　１２３４　５６７８", "ａｂ＠ｃｄ．ｃｎ"]
    assert text[findings[0].start - 1] == "："


def test_findings_come_in_text_order_and_do_not_overlap() -> None:
    text = (
        f"我是张三，手机13812345678，身份证{VALID_ID}，邮箱zs@163.com，"
        f"卡号{CARD_19}，座机010-62345678"
    )
    findings = find_identifying(text)
    assert [f.kind for f in findings] == [
        K.NAME,
        K.MOBILE,
        K.ID_CARD,
        K.EMAIL,
        K.BANK_CARD,
        K.LANDLINE,
    ]
    assert all(a.end <= b.start for a, b in zip(findings, findings[1:], strict=False))


def test_an_address_containing_a_staff_number_is_one_email_finding() -> None:
    assert found("邮箱AB123456@corp.cn", STAFF) == [(K.EMAIL, "AB123456@corp.cn")]


def test_a_mobile_number_wins_over_a_staff_number_on_the_same_digits() -> None:
    eleven_digits = compile_staff_pattern(r"1\d{10}")
    assert found("号码13812345678", eleven_digits) == [(K.MOBILE, "13812345678")]
    assert found("号码12812345678", eleven_digits) == [(K.STAFF_NO, "12812345678")]


def test_an_empty_text_has_no_findings() -> None:
    assert find_identifying("") == []


# --- staff numbers --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("我的工号是AB123456。", [(K.STAFF_NO, "AB123456")]),
        ("工号ab123456", [(K.STAFF_NO, "ab123456")]),
        ("工号ＡＢ１２３４５６", [(K.STAFF_NO, "ＡＢ１２３４５６")]),
        ("编号XAB123456", []),
        ("编号AB1234567", []),
        ("案件XF-2026-000123", []),
    ],
)
def test_staff_numbers_follow_the_configured_pattern(text, expected) -> None:
    assert found(text, STAFF) == expected


def test_staff_numbers_are_not_looked_for_without_a_configured_pattern() -> None:
    assert found("我的工号是AB123456。") == []


def test_a_numeric_staff_pattern_does_not_flag_the_sequence_of_a_case_number() -> None:
    six_digits = compile_staff_pattern(r"\d{6}")
    assert found("工号 654321，案件 XF-2026-000123", six_digits) == [(K.STAFF_NO, "654321")]


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("[A-Z", "not a valid regular expression"),
        (r"^[A-Z]{2}\d{6}$", "anchored"),
        (r"[A-Z]{2}\d{6}$", "anchored"),
        (r"\A\d{6}", "anchored"),
        (r"\d*", "empty string"),
        (r"\d+", "ordinary numbers"),
        (r"\d{4}", "ordinary numbers"),
        (r"\d{5}", "ordinary numbers"),
        ("A" * 201, "longer than 200"),
    ],
)
def test_bad_staff_patterns_are_refused_with_a_reason(pattern, reason) -> None:
    with pytest.raises(ValueError, match=reason):
        compile_staff_pattern(pattern)


def test_a_pattern_ending_in_an_escaped_dollar_is_not_taken_for_an_anchor() -> None:
    assert compile_staff_pattern(r"[A-Z]{2}\d{6}\$").search("ZZ123456$")


# --- masking --------------------------------------------------------------------------------


def test_mask_replaces_every_finding_and_keeps_the_rest_exactly() -> None:
    text = f"我是张三，手机 138 1234 5678，身份证{VALID_ID}，邮箱zs@163.com。谢谢！"
    assert mask(text, find_identifying(text)) == (
        f"我是{MASK}，手机 {MASK}，身份证{MASK}，邮箱{MASK}。谢谢！"
    )


def test_mask_works_on_full_width_originals() -> None:
    text = "手机１３８１２３４５６７８。"
    assert mask(text, find_identifying(text)) == f"手机{MASK}。"


def test_mask_without_findings_returns_the_text_unchanged() -> None:
    assert mask("工资 3000 元", []) == "工资 3000 元"


def test_mask_accepts_findings_in_any_order_and_merges_overlaps() -> None:
    text = "0123456789"
    findings = [Finding(K.NAME, 6, 8), Finding(K.MOBILE, 1, 4), Finding(K.EMAIL, 2, 5)]
    assert mask(text, findings) == f"0{MASK}5{MASK}89"


def test_mask_refuses_a_finding_outside_the_text() -> None:
    with pytest.raises(ValueError):
        mask("abc", [Finding(K.NAME, 2, 5)])


# --- long texts -----------------------------------------------------------------------------


def test_a_100_kb_text_is_scanned_completely() -> None:
    # Everything in the filler is a near miss: amounts, dates, codes, 本人 without a name.
    filler = (
        "2026年3月15日，欠薪 12000 元，案件 XF-2026-000123，查询码 ABCD-EFGH-JKMN-PQRS，"
        "订单号 913812345678，本人认为不合理，我是一名普通职工。\n"
    )
    chunk = filler * (51_000 // len(filler))
    text = chunk + "我的手机13812345678，" + chunk + f"身份证{VALID_ID}"
    assert len(text) > 100_000
    assert found(text) == [(K.MOBILE, "13812345678"), (K.ID_CARD, VALID_ID)]
    first = find_identifying(text)[0]
    assert first.start == len(chunk) + len("我的手机")


@pytest.mark.parametrize(
    "text",
    [
        "1" * 100_000,
        "1 " * 50_000,
        "a." * 50_000,
        "a@" + "b-" * 50_000,
        "x" * 100_000 + "@",
        "我是" * 50_000,
        "本人张" * 30_000,
    ],
)
def test_pathological_long_inputs_finish_without_findings(text) -> None:
    assert find_identifying(text) == []
