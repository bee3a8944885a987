"""Clusters: five or more petitions about one matter within 14 days in one unit or its
subtree make one cluster, named by the lowest unit holding them, shown without identities."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from petitions.units import Unit, UnitTree
from petitions.warnings.clusters import (
    Cluster,
    ClusterConfig,
    _details,
    find_clusters,
    opening,
    overlap,
)
from petitions.warnings.similar import Petition, SimilarityIndex

NOW = datetime(2026, 6, 1, 18, tzinfo=UTC)
TREE = UnitTree(
    [
        Unit(100, "JT", "本集团", None),
        Unit(101, "A", "甲公司", 100),
        Unit(102, "B", "乙公司", 100),
        Unit(1, "A1", "一厂", 101),
        Unit(2, "A2", "二厂", 101),
        Unit(3, "B1", "三厂", 102),
    ]
)
# One matter in six people's words (typos, traditional characters, English, a phone number).
MATTER = [
    "二车间三月份的加班费到现在还没发，刘主任说等通知。",
    "我们二车间三月加班費一直拖着不给，劉主任說等通知，电话13812345678。",
    "三月份二车间的加班工资没发，找刘主任也没用，说等通知。",
    "二车间 OT费 三月份的到现在没发，刘主任让等通知。",
    "请问二车间三月份加班费什么时候发？刘主任只说等通知。",
    "二车间三月的加班费还没有发放，刘主任说等通知，大家意见很大。",
]
# Other matters in the same weeks and units.
OTHERS = [
    "食堂饭菜涨价太厉害，分量还越来越少。",
    "宿舍楼漏水很久了，后勤一直不来修。",
    "安全帽不够，新来的工人都没有。",
    "年休假申请了三次都不批，领导说生产忙。",
    "班车取消以后下夜班没有车回家。",
    "职工医疗保险断缴了三个月，查社保记录才发现。",
    "改制买断工龄的补偿标准太低，老职工不接受。",
    "车间主任态度粗暴，经常骂人。",
]

# Months of earlier petitions: the long-lived index they are in tells a matter's specifics
# (二车间, 三月, 刘主任) from words every petition uses.
HISTORY = [
    "一车间的夜班津贴标准好几年没调整了。", "希望增加夜班班车，下夜班没车回家。",
    "包装车间的防尘口罩好几个月没发了。", "职工宿舍没有热水，反映很久了。",
    "质检科的年终奖被无故扣了一半，也没有说明理由。", "配电箱漏电，报修好几次没人来。",
    "劳务派遣工和正式工干一样的活，工资差一半。", "工伤认定的材料交上去了，一直压着不报。",
    "评先评优只照顾关系户，希望领导重视。", "废料处理没有招标，直接指定了供应商。",
    "食堂夜班没饭，只能点外卖。", "停车位不够用，每天抢。", "澡堂坏了很久没人修。",
    "排班取消倒休，没有征求职工意见。", "住房公积金的缴费基数一直按最低标准交。",
    "听说要合并到其他厂，职工怎么安置？", "技能培训流于形式，希望改进。",
    "运输队强制周日加班，不加班就扣绩效。", "高温补贴七月只发了一半。",
    "热处理车间噪音太大，防护措施不到位。", "机修班班长工作作风有问题，有事找不到人。",
    "电动车充电的问题能不能解决一下？", "开水房卫生太差。", "五车间的工资晚发了半个月。",
    "四车间八月的加班费也拖了一阵，后来补发了。", "铸造车间的劳保鞋质量很差。",
    "装配车间婚假申请了两次都不批。", "养老保险断缴了三个月，查记录才发现。",
]  # fmt: skip


PLACES = ["一车间", "三车间", "四车间", "五车间", "包装车间", "质检科", "运输队", "机修班"]


def history() -> list[Petition]:
    """About 250 older petitions: idf needs a history to tell rare words from common ones
    (the service's index holds 90 days)."""
    texts = [place + text for place in PLACES for text in HISTORY]
    return [
        Petition(1000 + i, text, (1, 2, 3)[i % 3], "other", NOW - timedelta(days=20 + i / 5))
        for i, text in enumerate(texts)
    ]


def petitions(
    units: list[int], *, days_ago: float = 1, texts: list[str] = MATTER
) -> list[Petition]:
    out = [
        Petition(
            i + 1, text, units[i % len(units)], "pay", NOW - timedelta(days=days_ago, hours=i)
        )
        for i, text in enumerate(texts)
    ]
    out += [
        Petition(100 + i, text, (1, 2, 3)[i % 3], "other", NOW - timedelta(days=2, hours=i))
        for i, text in enumerate(OTHERS)
    ]
    return out


def scan(items: list[Petition], **config: float) -> list[Cluster]:
    index = SimilarityIndex()
    index.add_all(history() + items)
    return find_clusters(
        items,
        now=NOW,
        tree=TREE,
        config=ClusterConfig(**config),
        index=index,  # type: ignore[arg-type]
    )


def test_six_petitions_about_one_matter_at_one_plant_make_one_cluster() -> None:
    clusters = scan(petitions([1]))
    assert len(clusters) == 1
    (cluster,) = clusters
    # The shortest, most differently worded one may stay out; nothing else gets in.
    assert {1, 2, 4, 5, 6} <= set(cluster.case_ids) <= {1, 2, 3, 4, 5, 6}
    assert cluster.unit_id == 1 and cluster.unit_ids == (1,)
    assert sum(cluster.trend) == cluster.count and len(cluster.trend) == 2
    assert cluster.central_id in cluster.case_ids


def test_petitions_from_two_plants_of_one_company_make_a_cluster_of_the_company() -> None:
    (cluster,) = scan(petitions([1, 2]))
    assert cluster.unit_id == 101
    assert set(cluster.unit_ids) == {1, 2}


def test_petitions_from_two_companies_do_not_make_one_cluster() -> None:
    assert scan(petitions([1, 3])) == []


def test_fewer_than_k_petitions_make_no_cluster() -> None:
    assert scan(petitions([1], texts=MATTER[:4])) == []
    assert len(scan(petitions([1], texts=MATTER[:4]), min_size=4)) == 1


def test_petitions_older_than_d_days_are_not_counted() -> None:
    assert scan(petitions([1], days_ago=15)) == []
    assert len(scan(petitions([1], days_ago=15), days=30)) == 1


def test_the_matter_is_an_opening_without_numbers_that_could_identify_someone() -> None:
    (cluster,) = scan(petitions([1]))
    assert len(cluster.matter) <= 40
    assert "13812345678" not in cluster.matter
    assert opening("电话13812345678，邮箱 a@b.cn，" + "字" * 50).startswith("电话…，邮箱 …，")
    assert len(opening("字" * 50)) == 40 and opening("字" * 50).endswith("…")


def test_overlap_says_whether_two_scans_found_the_same_cluster() -> None:
    (a,) = scan(petitions([1]))
    later = Cluster(a.unit_id, (*a.case_ids[1:], 77, 78), a.unit_ids, (0, 7), 77, "", NOW, NOW)
    assert overlap(a, later) == (a.count - 1) / a.count
    assert overlap(a, Cluster(1, (99,), (1,), (1,), 99, "", NOW, NOW)) == 0.0


def test_without_a_tree_every_unit_is_one_office() -> None:
    items = history() + petitions([1, 3])
    index = SimilarityIndex()
    index.add_all(items)
    assert len(find_clusters(items, now=NOW, index=index)) == 1


def test_a_petition_naming_another_month_is_another_matter() -> None:
    other_month = "二车间五月份的加班费到现在还没发，刘主任说等通知。"
    items = petitions([1], texts=[*MATTER, other_month])
    (cluster,) = scan(items)
    assert 7 not in cluster.case_ids
    (loose,) = scan(items, details=False)
    assert 7 in loose.case_ids


def test_details_are_read_as_kinds_and_values_in_any_script_and_width() -> None:
    found = _details("九月的高温費，９月３號通知的，每人少了1700元，住6号楼。三个月了。")
    assert found == {
        "month": frozenset({"9"}),
        "date": frozenset({"9-3"}),
        "amount": frozenset({"1700"}),
        "building": frozenset({"6"}),
    }
    assert _details("十二月和12月") == {"month": frozenset({"12"})}
