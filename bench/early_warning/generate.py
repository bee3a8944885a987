"""A labelled set of synthetic Chinese petitions for the early-warning benchmark.

Everything comes from one seed, so the figures in bench/README.md can be reproduced. The set:

- a unit tree: 本集团 (id 100) → 4 companies (101–104) → 5 plants each (ids 1–20);
- 26 weeks from :data:`START` (a Monday);
- background petitions: per plant, week and category a Poisson number (plants differ in
  size, two are tiny so that pooling is exercised); each is a matter of its own: a topic
  (26 of them over the 9 categories), a detail (which month, which item…) and a place
  (a workshop of the plant). No two background petitions of one company share topic and
  detail within 14 days of each other, nor come within 21 days of the whole span (first
  to last member) of a planted cluster of that company, topic and detail, so that the
  labels are honest: a petition labelled "no cluster" is never really about a planted
  matter (as far as the draw allows: see ``background label collisions``);
- concrete facts (an amount, a date, a manager, a building), as real petitions have: each
  planted cluster has one or two, each member mentions each with probability 0.6 in its own
  phrasing; each background petition mentions one fact of its own with the same
  probability (so a fact is no give-away, only a coincidence within one matter);
- planted clusters: one matter (topic + detail + workshop, or company-wide) written by 5–15
  employees at one plant or across one company's plants within 3–13 days, in varied
  wording: different sentence templates, synonyms, homophone typos, traditional
  characters, English words, full-width forms, openers, fillers and closers; 15 % of the
  members file it under another category than the topic's;
- planted spikes: 5–9 extra petitions of one plant and category in one week, each a
  different matter of that category;
- urgent petitions (threat to life or safety, group action plans, self-harm) and hard
  negatives that look alike (安全帽不够, 跳槽, 油炸, 消防门被堵, 热死人了, 不会去上访…).

Labels: :attr:`Sample.matter` (planted cluster id), :attr:`Sample.spike` (planted spike
id), :attr:`Sample.urgent` (the planted danger kind), :attr:`Sample.hard_negative`.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from petitions.categories import Category
from petitions.units import Unit, UnitTree

__all__ = [
    "DAYS",
    "HELD_OUT_NEGATIVE",
    "HELD_OUT_URGENT",
    "START",
    "WEEKS",
    "Dataset",
    "PlantedCluster",
    "PlantedSpike",
    "Sample",
    "generate",
    "scaled",
    "summary",
    "make_tree",
    "to_traditional",
]

START = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday
WEEKS = 26
DAYS = WEEKS * 7
ROOT_ID = 100
COMPANIES = {101: "甲公司", 102: "乙公司", 103: "丙公司", 104: "丁公司"}
PLANT_NAMES = ("一厂", "二厂", "三厂", "四厂", "五厂")
# Relative sizes of plants 1..20 (petitions per week scale with them); 10 and 17 are tiny.
PLANT_WEIGHTS = (
    3.0, 1.6, 1.2, 0.8, 0.6,
    2.2, 1.0, 0.9, 0.5, 0.02,
    1.8, 1.4, 0.7, 0.6, 0.4,
    2.5, 0.03, 1.1, 0.9, 0.7,
)  # fmt: skip

WORKSHOPS = (
    "一车间", "二车间", "三车间", "四车间", "五车间", "机加车间", "装配车间", "包装车间",
    "热处理车间", "铸造车间", "质检科", "仓储班组", "运输队", "机修班", "动力车间", "后勤班组",
)  # fmt: skip
MONTHS = tuple(f"{m}月" for m in "一 二 三 四 五 六 七 八 九 十 十一 十二".split())


@dataclass(frozen=True)
class Topic:
    """A kind of matter: its category, the details that make one matter specific, and
    sentence templates ({place} and {d} are filled in)."""

    key: str
    category: Category
    details: tuple[str, ...]
    templates: tuple[str, ...]


def _t(key: str, cat: Category, details: str, *templates: str) -> Topic:
    return Topic(key, cat, tuple(details.split()), templates)


C = Category
TOPICS: tuple[Topic, ...] = (
    _t("overtime_pay", C.PAY, " ".join(MONTHS),
       "{place}{d}的加班费到现在还没发，大家天天加班到晚上十点。",
       "{d}加班工资一直拖着不给，{place}的工人意见很大。",
       "我是{place}的，{d}加了六十多个小时的班，加班费一分钱都没看到。",
       "请问{place}{d}的加班费什么时候发？问了班长说等通知。",
       "{place}{d}加班费被拖欠，找人事也没人管。"),
    _t("wage_arrears", C.PAY, " ".join(MONTHS),
       "{place}{d}的工资到现在没发，家里房贷都还不上了。",
       "{d}的工资又推迟发放了，{place}好多人都有意见。",
       "公司拖欠{place}{d}的工资，说是资金紧张。",
       "{place}的工资从{d}开始就一直晚发，每次都要拖半个月。"),
    _t("bonus_cut", C.PAY, "年终奖 季度绩效奖 安全奖 全勤奖 质量奖 节能奖 超产奖",
       "{place}的{d}今年被无故扣了一半，也没有说明理由。",
       "{d}被扣，{place}考核标准不公开，大家不服。",
       "为什么{place}的{d}比别的车间少那么多？",
       "{place}{d}的发放不透明，班组长说扣就扣。"),
    _t("heat_allowance", C.PAY, "六月 七月 八月 九月",
       "{place}{d}的高温补贴没有发放，车间温度四十度。",
       "{d}高温费没到账，{place}是高温作业岗位。",
       "高温补贴{place}{d}只发了一半，其他单位都是全额。"),
    _t("base_pay", C.PAY, "岗位工资 技能工资 工龄工资 夜班津贴 交通补贴",
       "{place}的{d}标准好几年没调整了。",
       "{d}调整后{place}反而少了，请解释计算方法。",
       "同样岗位{place}的{d}比新员工还低。"),
    _t("shift_change", C.LABOR,
       "四班三倒改成两班倒 取消倒休 夜班连上七天 周末强制排班 节假日不调休 早班提前到六点",
       "{place}突然{d}，每天要干十二个小时。",
       "{place}的排班{d}，没有征求职工意见。",
       "反对{place}{d}，身体吃不消。",
       "{d}以后{place}很多人都病倒了。"),
    _t("annual_leave", C.LABOR, "年休假 婚假 探亲假 产假 病假 调休",
       "{place}的{d}申请了三次都不批。",
       "{place}领导说生产忙，{d}一律不让休。",
       "{d}被{place}强行取消，也没有补偿。"),
    _t("contract", C.LABOR, "劳务派遣工 临时工 合同工 实习生 外包工",
       "{place}的{d}和正式工干一样的活，工资差一半。",
       "{place}{d}的劳动合同到期不续签也不给补偿。",
       "{d}同工不同酬，{place}的问题一直没解决。"),
    _t("forced_overtime", C.LABOR, "每天加班三小时 周日加班 春节期间加班 国庆加班 双休日加班",
       "{place}强制{d}，不加班就扣绩效。",
       "{place}{d}是强迫的，不愿意的人被调岗。",
       "{d}不是自愿的，{place}班长拿考核压人。"),
    _t("social_insurance", C.INSURANCE,
       "养老保险 医疗保险 失业保险 住房公积金 企业年金 补充医疗保险",
       "{place}有人的{d}断缴了三个月，查社保记录才发现。",
       "{d}的缴费基数{place}一直按最低标准交。",
       "公司没给{place}的临时工交{d}。",
       "{place}{d}断缴，影响看病报销。"),
    _t("injury", C.INSURANCE, "工伤认定 工伤赔偿 职业病鉴定 伤残等级评定",
       "{place}的同事受伤半年了，{d}还没有办下来。",
       "{d}的材料交上去了，{place}那边一直压着不报。",
       "{place}{d}拖了很久，医药费都是自己垫的。"),
    _t("ppe", C.SAFETY, "安全帽 防尘口罩 防护手套 劳保鞋 耳塞 护目镜 工作服 防寒服",
       "{place}的{d}不够，新来的工人都没有。",
       "{d}好几个月没发了，{place}只能自己买。",
       "{place}发的{d}质量很差，戴两天就坏。",
       "请给{place}补发{d}，现在两个人共用一个。"),
    _t("hazard", C.SAFETY,
       "行车钢丝绳磨损 配电箱漏电 通风设备坏了 消防通道被占 地面油污很滑 "
       "吊钩保险失灵 护栏缺失 应急灯不亮",
       "{place}{d}，报修好几次没人来。",
       "安全隐患：{place}{d}，希望安全科来看看。",
       "{place}{d}的问题希望尽快处理。"),
    _t("occupational", C.SAFETY, "粉尘 噪音 高温 有毒气体 油烟 辐射",
       "{place}{d}超标，很多人体检查出问题。",
       "{place}的{d}太大，防护措施不到位。",
       "{d}危害{place}工人健康，也没有职业病体检。"),
    _t("resettlement", C.RESTRUCTURING, "搬迁安置 转岗分流 内部退养 买断工龄 经济补偿 再就业培训",
       "{place}改制{d}的方案没有公示。",
       "{d}的补偿标准太低，{place}的老职工不接受。",
       "{place}{d}没有经过职代会讨论。",
       "关于{place}{d}，我们有很多疑问没人解答。"),
    _t("merger", C.RESTRUCTURING, "合并到其他厂 划转到新公司 停产整顿 整体出售 关停",
       "听说{place}要{d}，职工怎么安置？",
       "{place}{d}以后我们的工龄怎么算？",
       "{place}{d}的消息传了很久，请公开说明。"),
    _t("rude_manager", C.CONDUCT, "车间主任 班长 工段长 副厂长 值班长 调度员",
       "{place}的{d}态度粗暴，经常骂人。",
       "{d}在{place}搞一言堂，谁提意见就给谁穿小鞋。",
       "{place}{d}工作作风有问题，职工有事找不到人。"),
    _t("favoritism", C.CONDUCT, "评先评优 岗位调整 职称推荐 职务晋升 分房",
       "{place}{d}只照顾关系户。",
       "{place}的{d}不公开不透明。",
       "{d}在{place}全凭领导一句话。"),
    _t("kickback", C.DISCIPLINE, "废料处理 食堂承包 设备采购 劳保用品采购 外包工程 运输承包",
       "举报{place}{d}中有人吃回扣。",
       "{place}的{d}价格明显偏高，怀疑有利益输送。",
       "{d}没有招标，{place}直接指定了供应商。"),
    _t("fake_accounts", C.DISCIPLINE, "虚报加班 虚列工资 公款吃喝 虚开发票 私设小金库",
       "{place}有人{d}，账目对不上。",
       "举报{place}{d}的问题，证据可以提供。"),
    _t("shuttle", C.SUGGESTION, "增加夜班班车 班车延长到新区 班车改站点 增开早班班车",
       "建议{d}，{place}下夜班没车回家。",
       "希望{place}考虑{d}。",
       "{d}的建议提了很久，{place}还没答复。"),
    _t("training", C.SUGGESTION, "技能培训 安全培训 学历提升 岗位练兵",
       "建议{place}多组织{d}。",
       "{place}的{d}流于形式，希望改进。"),
    _t("dormitory", C.OTHER, "漏水 没有热水 空调坏了 太挤 蚊虫太多 没有暖气 门锁坏了 网络太差",
       "{place}宿舍{d}，反映很久了。",
       "职工宿舍{d}，住在{place}宿舍楼的人都受不了。",
       "请后勤解决{place}宿舍{d}的问题。",
       "{place}的宿舍楼{d}，一直没人修。"),
    _t("canteen", C.OTHER, "饭菜涨价 卫生太差 夜班没饭 饭菜分量少 营业时间太短",
       "{place}食堂{d}，职工意见很大。",
       "食堂{d}，{place}的人只能点外卖。",
       "希望改善{place}食堂{d}的情况。"),
    _t("parking", C.OTHER, "电动车充电 停车位 车棚 停车收费",
       "{place}的{d}不够用，每天抢。",
       "{place}{d}的问题能不能解决一下？"),
    _t("water", C.OTHER, "饮水机 开水房 澡堂 洗衣房 厕所",
       "{place}{d}坏了很久没人修。",
       "{place}的{d}卫生太差。"),
)  # fmt: skip
CATEGORY_WEIGHTS = {
    C.PAY: 3.0, C.LABOR: 2.0, C.INSURANCE: 1.0, C.SAFETY: 1.5, C.RESTRUCTURING: 0.8,
    C.CONDUCT: 0.8, C.DISCIPLINE: 0.4, C.SUGGESTION: 0.8, C.OTHER: 1.5,
}  # fmt: skip

OPENERS = ("领导好，", "您好！", "尊敬的领导：", "我想反映一个问题。", "匿名反映：", "各位领导，")
FILLERS = (
    "我们多次向班组长反映都没有结果。", "大家都不敢公开说，怕被穿小鞋。", "希望领导重视。",
    "这个问题已经存在很长时间了。", "工友们私下都在议论。", "之前打过热线也没有回音。",
    "家里还有老人孩子要养。", "我们也理解公司的难处，但是不能一直这样。",
)  # fmt: skip
CLOSERS = ("请尽快解决！", "盼回复。", "谢谢！", "希望给个说法。", "请领导过问一下。")
SYNONYMS = {
    "工资": ("薪水", "工钱", "薪资"), "没发": ("未发放", "没到账", "没有发"),
    "领导": ("上级",), "一直": ("始终", "总是"), "问题": ("情况", "事情"),
    "拖欠": ("拖着不发", "欠着"), "职工": ("员工", "工人"), "工人": ("职工", "员工"),
    "希望": ("盼望", "请求"), "很久": ("好久", "很长时间"), "不够": ("不足", "缺"),
    "坏了": ("故障了", "出毛病了"), "加班费": ("加班工资", "加班补贴"),
    "意见很大": ("很不满", "怨气很大"), "解决": ("处理", "落实"), "大家": ("我们", "同事们"),
    "现在": ("目前", "今天"), "好几": ("几",),
}  # fmt: skip
HOMOPHONES = {
    "资": "姿", "加": "家", "班": "般", "宿": "速", "舍": "社", "发": "法", "欠": "歉",
    "补": "布", "贴": "帖", "险": "显", "保": "报", "食": "实", "堂": "唐", "费": "废",
    "修": "休", "缴": "交", "排": "派", "扣": "叩", "主": "住", "拖": "托",
}  # fmt: skip
ENGLISH = {
    "加班费": ("OT费", "overtime pay"), "加班": ("OT", "overtime"), "工资": ("salary",),
    "奖金": ("bonus",), "宿舍": ("dorm",), "食堂": ("canteen",), "领导": ("leader", "boss"),
    "人事": ("HR",), "班车": ("shuttle bus",), "合同": ("contract",),
}  # fmt: skip
# Simplified → traditional for the characters these texts use: an own table, so that the
# normaliser under test (OpenCC) is not also what made the test data.
_TRAD = str.maketrans(
    "发这个们车间没费资补贴险报宿舍饭卖买长门问题请给让说从让认证劳动务险单实义"
    "时后为头还进过厂关见观样约统级红纪计设许论识该调谈质贵费应专业东严两产乐书"
    "习乡亏云亚仅从价众优伤伦传体余佣侠侣侥侦侧侨侬俭债倾偿储儿兑党兰关兴养兽内"
    "册写军农冯冲决况冻净准凉减凑凤凭凯击凿刍则刚创删别刮制剂剐剥剧劝办务动励劲"
    "劳势勋匀区医华协单卖卫却厅历压厌厕厦厨县叁参双变叙叠号叹吓吗启员呜咏响哑唤"
    "啬团园围图圆坏坚坛坝块坟坠垄垒垦垫埘壮声处备复够头夹夺奋奖妆妇妈娱婴宁宝实"
    "宠审宪宫宽对寻导寿将尔尘尝尽层属岁岂岗岛岭币帅师帐带帮干广庆库应庙废开异弃"
    "张弥弯强归当录彻径忆态怀怜总恋恳恶恼悬惊惧惩惫惭惯愤愿懒戏战户扑执扩扫扬扰"
    "择护报担拟拢拣拥拦拨择挂挚挤挥损换据掳携摄摆摇摊撑撵断无旧时旷昼显晒晓晕暂"
    "机杀权条来杨极构枪柜标栈栋样档桥梦检楼欢欧歼毁毕毙气汇汉汤沟没沪泪泼泽洁洒"
    "浅测济浑浓涂涛涝润涨渊渐渔温湿满滚滞滥灭灯灵灾灿炉炼烂烟烦烧热焕爱爷牵犹状"
    "独狭猎献环现琐电画畅疗疮疯痒瘾盏监盖盘着矿码础硬确碍礼祸离种积称税稳穷窃窝"
    "竞笔筑签简粮纠红约级纪纯纲纳纵纷纸纹纺线练组细织终经绑结绕绘给络绝统继绩续"
    "维绵综绿缓编缘缴网罗罚罢职联聪肃肠肤肿胀胁胜胶脏脑脚腊舰艰节芦苏苹范荐荡药"
    "莲获营萧蓝虑虽虾蚀蚁蛮衅补衬袭装见观规视览觉誉计订认讨让训议讯记讲许论设访"
    "证评识诉词译试诗诚话询该详诫语误说请诸读课谁调谈谊谋谢谨谱贝负贡财责贤败货"
    "质贩贪贫购贯贴贵贷贸费贺贼资赋赏赔赖赚赛赞赶趋跃践踪车轨转轮软轰轻载较辆辈"
    "辑输辞边达迁过运还这进远违连迟适选逊递逻遗邮邻郁酱释里鉴针钉钟钢钥钱钻铁铃"
    "铜铺银链销锁锅锋错锦键镇长门闪闭问闯闲间闷闹闻阀阁阅队阳阴阵阶际陆陈险随隐"
    "难雾静页顶项顺须顾顿预领频题额风飞饥饭饮饰饱饼馆首驱驶驻驾骂验骗骨鱼鲁鸟鸡"
    "鸣鸭麦黄齐齿龄龙",
    "發這個們車間沒費資補貼險報宿舍飯賣買長門問題請給讓說從讓認證勞動務險單實義"
    "時後為頭還進過廠關見觀樣約統級紅紀計設許論識該調談質貴費應專業東嚴兩產樂書"
    "習鄉虧雲亞僅從價眾優傷倫傳體餘傭俠侶僥偵側僑儂儉債傾償儲兒兌黨蘭關興養獸內"
    "冊寫軍農馮衝決況凍淨準涼減湊鳳憑凱擊鑿芻則剛創刪別颳製劑剮剝劇勸辦務動勵勁"
    "勞勢勳勻區醫華協單賣衛卻廳歷壓厭廁廈廚縣叄參雙變敘疊號嘆嚇嗎啟員嗚詠響啞喚"
    "嗇團園圍圖圓壞堅壇壩塊墳墜壟壘墾墊塒壯聲處備複夠頭夾奪奮獎妝婦媽娛嬰寧寶實"
    "寵審憲宮寬對尋導壽將爾塵嘗盡層屬歲豈崗島嶺幣帥師帳帶幫幹廣慶庫應廟廢開異棄"
    "張彌彎強歸當錄徹徑憶態懷憐總戀懇惡惱懸驚懼懲憊慚慣憤願懶戲戰戶撲執擴掃揚擾"
    "擇護報擔擬攏揀擁攔撥擇掛摯擠揮損換據擄攜攝擺搖攤撐攆斷無舊時曠晝顯曬曉暈暫"
    "機殺權條來楊極構槍櫃標棧棟樣檔橋夢檢樓歡歐殲毀畢斃氣匯漢湯溝沒滬淚潑澤潔灑"
    "淺測濟渾濃塗濤澇潤漲淵漸漁溫濕滿滾滯濫滅燈靈災燦爐煉爛煙煩燒熱煥愛爺牽猶狀"
    "獨狹獵獻環現瑣電畫暢療瘡瘋癢癮盞監蓋盤著礦碼礎硬確礙禮禍離種積稱稅穩窮竊窩"
    "競筆築簽簡糧糾紅約級紀純綱納縱紛紙紋紡線練組細織終經綁結繞繪給絡絕統繼績續"
    "維綿綜綠緩編緣繳網羅罰罷職聯聰肅腸膚腫脹脅勝膠髒腦腳臘艦艱節蘆蘇蘋範薦蕩藥"
    "蓮獲營蕭藍慮雖蝦蝕蟻蠻釁補襯襲裝見觀規視覽覺譽計訂認討讓訓議訊記講許論設訪"
    "證評識訴詞譯試詩誠話詢該詳誡語誤說請諸讀課誰調談誼謀謝謹譜貝負貢財責賢敗貨"
    "質販貪貧購貫貼貴貸貿費賀賊資賦賞賠賴賺賽贊趕趨躍踐蹤車軌轉輪軟轟輕載較輛輩"
    "輯輸辭邊達遷過運還這進遠違連遲適選遜遞邏遺郵鄰鬱醬釋裡鑒針釘鐘鋼鑰錢鑽鐵鈴"
    "銅鋪銀鏈銷鎖鍋鋒錯錦鍵鎮長門閃閉問闖閒間悶鬧聞閥閣閱隊陽陰陣階際陸陳險隨隱"
    "難霧靜頁頂項順須顧頓預領頻題額風飛飢飯飲飾飽餅館首驅駛駐駕罵驗騙骨魚魯鳥雞"
    "鳴鴨麥黃齊齒齡龍",
)

URGENT_SENTENCES = {
    "self_harm": (
        "再不给说法我就从厂房楼顶跳下去。", "我真的不想活了。", "活不下去了，想一死了之。",
        "我已经想过自杀，撑不住了。", "我买了农药放在宿舍里。", "实在没办法只能跳楼了。",
        "这样下去我只有去死。", "不如死了算了，也没人管。", "我準備輕生，這是最後一次反映。",
        "想割腕，谁也别拦我。",
    ),
    "life_safety": (
        "再拖下去我就拿刀去找他算账。", "我要跟车间主任同归于尽。", "逼急了我就炸了他的办公室。",
        "我会放火烧了仓库。", "锅炉压力一直超标，随时可能爆炸，要出人命的。",
        "脚手架已经松动随时会塌，会死人的。", "有人扬言要杀了班长。",
        "他说要带刀来厂里报复。", "氨气管道在泄漏，随时会中毒死人。", "我要弄死那个主任。",
    ),
    "group_action": (
        "我们几十个人商量好下周一去集团集体上访。", "大家准备明天堵厂门。",
        "工友们说好了月底一起罢工。", "我们要去省里上访。", "准备拉横幅到市政府门口。",
        "全班组决定从下周开始停工。", "打算组织工友到公司门口静坐。",
        "再不解决我们就集体去北京上访。", "明天早上大家一起去堵公司大门。",
        "已经联系了一百多人准备围堵集团办公楼。",
    ),
}  # fmt: skip
HARD_NEGATIVE_SENTENCES = (
    "安全帽不够，新来的工人都没有。", "好几个技术骨干都跳槽走了。", "有同事准备跳槽了。",
    "食堂的油炸食品太多。", "仓库通道被货物堵住了，消防门也堵了。", "高温车间热死人了。",
    "我们不会去上访，只希望领导重视。", "天天加班累死了。", "电脑的杀毒软件过期了。",
    "配电房经常跳闸。", "昨天组织了消防演练和火灾逃生培训。", "班车堵在路上经常迟到。",
    "新闻里说外地有工厂罢工，我们厂不会这样。", "安全员说要防止高处坠落。",
    "这个月的任务压得人喘不过气。",
)  # fmt: skip

# Written after the danger signs were fixed, and never used to change them: the figures on
# these say how the signs do on wording they were not written for.
HELD_OUT_URGENT = (
    ("self_harm", "实在熬不下去了，我准备从宿舍楼上跳下来。"),
    ("self_harm", "我已经写好了遗书。"),
    ("self_harm", "我想吃药结束这一切。"),
    ("self_harm", "活着没意思了，不如死了好。"),
    ("self_harm", "我已经爬到厂房顶上了。"),
    ("group_action", "如果这周还不发钱，我们全车间的人就去市政府门口讨说法。"),
    ("group_action", "大家约好了周五上午在厂门口集合，不干活了。"),
    ("group_action", "已经有人说要去省信访局。"),
    ("group_action", "工友们商量好了下周集体停产。"),
    ("group_action", "我们要组织全厂职工到集团总部讨说法。"),
    ("group_action", "如果还拖欠，我们就拉条幅去总部。"),
    ("life_safety", "他再敢来宿舍闹，我就捅了他。"),
    ("life_safety", "配电室电线冒烟，随时会着火烧死人。"),
    ("life_safety", "车间主任再逼我，我就和他拼了。"),
    ("life_safety", "老张说要拿汽油把办公楼点了。"),
)
HELD_OUT_NEGATIVE = (
    "安全帽和反光背心都不够。", "听说隔壁厂有人跳槽去了民营企业。", "食堂的炸酱面太咸。",
    "车辆堵住了厂区消防通道。", "我们不打算罢工，只想要个公道。", "上次消防检查发现灭火器过期。",
    "最近加班多，累得要死。", "领导说要严肃处理打击报复的行为。", "希望公司组织一次集体活动。",
    "夏天车间里热得要命。", "停电导致全厂停工半天。", "新员工培训时讲了防止高空坠落。",
)  # fmt: skip


@dataclass(frozen=True)
class Sample:
    """One generated petition with its labels."""

    id: int
    text: str
    unit_id: int
    category: Category
    at: datetime
    matter: int | None = None  # planted cluster id
    spike: int | None = None  # planted spike id
    urgent: str | None = None  # planted danger kind
    hard_negative: bool = False  # looks like a danger sign, is not one


@dataclass(frozen=True)
class PlantedCluster:
    """One matter written by several employees at one plant or across one company."""

    id: int
    topic: str
    category: Category
    unit_id: int  # the plant, or the company for a company-wide matter
    start: datetime
    days: int
    members: tuple[int, ...] = ()


@dataclass(frozen=True)
class PlantedSpike:
    """Extra petitions of one plant and category in one week."""

    id: int
    unit_id: int
    category: Category
    week: int
    extra: int


@dataclass
class Dataset:
    """The generated set: samples sorted by time (ids 1..n in that order) and its labels."""

    seed: int
    tree: UnitTree
    samples: list[Sample]
    clusters: list[PlantedCluster]
    spikes: list[PlantedSpike]
    start: datetime = START
    weeks: int = WEEKS
    extra: dict[str, int] = field(default_factory=dict)


def make_tree() -> UnitTree:
    """本集团 (100) → 甲乙丙丁公司 (101–104) → 一厂…五厂 (plants 1–20)."""
    units = [Unit(ROOT_ID, "JT", "本集团", None)]
    for cid, name in COMPANIES.items():
        units.append(Unit(cid, f"C{cid}", name, ROOT_ID))
    for plant in range(1, 21):
        company = 101 + (plant - 1) // 5
        units.append(Unit(plant, f"P{plant}", PLANT_NAMES[(plant - 1) % 5], company))
    return UnitTree(units)


def to_traditional(text: str) -> str:
    """The generator's own simplified → traditional table (not OpenCC)."""
    return text.translate(_TRAD)


def _poisson(rng: random.Random, lam: float) -> int:
    # Knuth: fine for the small rates used here.
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _company(plant: int) -> int:
    return 101 + (plant - 1) // 5


def _vary(rng: random.Random, text: str, *, heavy: bool) -> str:
    """Rewrite one petition's text the way different people would write it."""
    for word, alternatives in SYNONYMS.items():
        if word in text and rng.random() < 0.5:
            text = text.replace(word, rng.choice(alternatives), 1)
    if rng.random() < 0.15:
        for word, alternatives in ENGLISH.items():
            if word in text:
                text = text.replace(word, " " + rng.choice(alternatives) + " ", 1)
                break
    if rng.random() < 0.3:  # one or two homophone typos
        chars = list(text)
        spots = [i for i, c in enumerate(chars) if c in HOMOPHONES]
        for i in rng.sample(spots, min(len(spots), rng.randint(1, 2))):
            chars[i] = HOMOPHONES[chars[i]]
        text = "".join(chars)
    if rng.random() < (0.15 if heavy else 0.1):
        text = to_traditional(text)
    if rng.random() < 0.1:  # full-width punctuation and digits typed on a phone
        text = text.replace("，", ", ").replace("。", ". ").replace("？", "?")
    if rng.random() < 0.05:
        text = text.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    return text


def _compose(rng: random.Random, core: str, *, heavy: bool = False) -> str:
    parts = []
    if rng.random() < 0.5:
        parts.append(rng.choice(OPENERS))
    parts.append(core)
    for filler in rng.sample(FILLERS, rng.choice((0, 0, 1, 1, 2, 3))):
        parts.append(filler)
    if rng.random() < 0.6:
        parts.append(rng.choice(CLOSERS))
    return _vary(rng, "".join(parts), heavy=heavy)


def _place(rng: random.Random, plant: int, workshop: str) -> str:
    plant_name = PLANT_NAMES[(plant - 1) % 5]
    return rng.choice(
        (workshop, workshop, f"{plant_name}{workshop}", f"我们{workshop}", f"{plant_name}", "")
    )


def _core(rng: random.Random, topic: Topic, place: str, detail: str, sentences: int) -> str:
    chosen = rng.sample(topic.templates, min(sentences, len(topic.templates)))
    text = "".join(s.format(place=place, d=detail) for s in chosen)
    # Without a place some templates read badly ("我是的，", "的停车位…"): tidy them.
    return _DANGLING.sub(r"\1", text.replace("我是的，", ""))


_DANGLING = re.compile(r"(^|[，。：！？])的")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘"
TITLES = ("主任", "科长", "经理", "书记", "厂长助理")


def _fact(rng: random.Random) -> tuple[str, ...]:
    """One concrete detail of a matter, as the several ways people would mention it."""
    kind = rng.randrange(4)
    if kind == 0:
        n = rng.randint(2, 40) * 50
        return (f"每人少了{n}元。", f"少发了{n}元。", f"扣了{n}块钱。", f"差了{n}元左右。")
    if kind == 1:
        m, d = rng.randint(1, 12), rng.randint(1, 28)
        return (
            f"{m}月{d}日开会宣布的。",
            f"从{m}月{d}日起就这样了。",
            f"{m}月{d}号通知的。",
            f"是{m}月{d}日的事。",
        )
    if kind == 2:
        who = rng.choice(SURNAMES) + rng.choice(TITLES)
        return (
            f"负责的是{who}。",
            f"{who}说这是上面定的。",
            f"找过{who}也没用。",
            f"{who}不给解释。",
        )
    n = rng.randint(1, 12)
    return (
        f"{n}号楼的情况最严重。",
        f"住{n}号楼的都受影响。",
        f"特别是{n}号楼。",
        f"{n}号楼那边。",
    )


def _with_facts(rng: random.Random, core: str, facts: list[tuple[str, ...]], p: float) -> str:
    for fact in facts:
        if rng.random() < p:
            core += rng.choice(fact)
    return core


def _when(rng: random.Random, day: float) -> datetime:
    return START + timedelta(days=math.floor(day), hours=rng.uniform(7, 22))


class _Keys:
    """Which (company, topic, detail) matters are in use when: background petitions stay
    clear of each other and of planted clusters (their labels would be wrong otherwise)."""

    def __init__(self, margin_days: float = 14.0, cluster_margin_days: float = 21.0) -> None:
        self.margin = margin_days
        self.cluster_margin = cluster_margin_days
        self.used: dict[tuple[int, str, str], list[float]] = {}
        # A planted cluster's whole span, not only its start: its members come up to 13
        # days after the start, and a background petition of the same matter a few days
        # after the last of them would be labelled "another matter" though it is not.
        self.spans: dict[tuple[int, str, str], list[tuple[float, float]]] = {}

    def free(self, key: tuple[int, str, str], day: float) -> bool:
        m = self.cluster_margin
        return all(abs(day - d) > self.margin for d in self.used.get(key, ())) and all(
            day < first - m or day > last + m for first, last in self.spans.get(key, ())
        )

    def take(self, key: tuple[int, str, str], day: float) -> None:
        self.used.setdefault(key, []).append(day)

    def plant(self, key: tuple[int, str, str], first: float, last: float) -> None:
        self.spans.setdefault(key, []).append((first, last))


def _by_category() -> dict[Category, list[Topic]]:
    out: dict[Category, list[Topic]] = {}
    for topic in TOPICS:
        out.setdefault(topic.category, []).append(topic)
    return out


def generate(
    seed: int = 16,
    *,
    base_rate: float = 0.21,
    clusters: int = 40,
    spikes: int = 14,
    urgent: int = 90,
    hard_negatives: int = 75,
) -> Dataset:
    """The labelled set for ``seed`` (about 2,200 petitions with the defaults)."""
    rng = random.Random(seed)
    tree = make_tree()
    topics_of = _by_category()
    keys = _Keys()
    rows: list[dict[str, object]] = []
    planted: list[PlantedCluster] = []
    collisions = [0]  # background petitions that found no matter of their own

    # Planted clusters first, so background petitions can stay clear of them.
    for cid in range(1, clusters + 1):
        company_wide = cid % 4 == 0
        plant = rng.randint(1, 20)
        while PLANT_WEIGHTS[plant - 1] < 0.1:
            plant = rng.randint(1, 20)
        company = _company(plant)
        topic = rng.choice(TOPICS)
        detail = rng.choice(topic.details)
        start = rng.uniform(7, DAYS - 15)
        while not keys.free((company, topic.key, detail), start):
            topic = rng.choice(TOPICS)
            detail = rng.choice(topic.details)
        span = rng.randint(3, 13)
        keys.plant((company, topic.key, detail), start, start + span)
        size = rng.randint(5, 15)
        workshop = rng.choice(WORKSHOPS)
        unit = company if company_wide else plant
        planted.append(
            PlantedCluster(cid, topic.key, topic.category, unit, _when(rng, start), span)
        )
        facts = [_fact(rng) for _ in range(rng.randint(1, 2))]
        for _ in range(size):
            member_plant = (
                rng.randint(company * 5 - 504, company * 5 - 500) if (company_wide) else plant
            )
            if company_wide:
                place = rng.choice(("公司", "我们公司", "各厂", "全公司", "集团下属公司"))
            else:
                place = _place(rng, plant, workshop)
            core = _core(rng, topic, place, detail, rng.choice((1, 1, 2)))
            core = _with_facts(rng, core, facts, 0.6)
            # Employees pick categories differently: one files overtime pay as 劳动关系.
            category = topic.category if rng.random() < 0.85 else rng.choice(list(C))
            rows.append(
                dict(
                    text=_compose(rng, core, heavy=True),
                    unit_id=member_plant,
                    category=category,
                    day=start + rng.uniform(0, span),
                    matter=cid,
                )
            )

    def background(plant: int, category: Category, day: float) -> str:
        company = _company(plant)
        for _ in range(50):
            topic = rng.choice(topics_of[category])
            detail = rng.choice(topic.details)
            if keys.free((company, topic.key, detail), day):
                break
        else:
            collisions[0] += 1
        keys.take((company, topic.key, detail), day)
        place = _place(rng, plant, rng.choice(WORKSHOPS))
        core = _core(rng, topic, place, detail, rng.choice((1, 1, 2)))
        return _compose(rng, _with_facts(rng, core, [_fact(rng)], 0.6))

    # Background: Poisson per plant, week and category.
    for plant in range(1, 21):
        for week in range(WEEKS):
            for category, weight in CATEGORY_WEIGHTS.items():
                for _ in range(_poisson(rng, base_rate * PLANT_WEIGHTS[plant - 1] * weight)):
                    day = week * 7 + rng.uniform(0, 7)
                    rows.append(
                        dict(
                            text=background(plant, category, day),
                            unit_id=plant,
                            category=category,
                            day=day,
                        )
                    )

    # Planted spikes: extra petitions of one plant and category in one week (week ≥ 6, so
    # that there is a baseline to rise above).
    planted_spikes: list[PlantedSpike] = []
    for sid in range(1, spikes + 1):
        plant = rng.randint(1, 20)
        while PLANT_WEIGHTS[plant - 1] < 0.1:
            plant = rng.randint(1, 20)
        category = rng.choice(list(CATEGORY_WEIGHTS))
        week = rng.randint(6, WEEKS - 1)
        extra = rng.randint(5, 9)
        planted_spikes.append(PlantedSpike(sid, plant, category, week, extra))
        for _ in range(extra):
            day = week * 7 + rng.uniform(0, 7)
            rows.append(
                dict(
                    text=background(plant, category, day),
                    unit_id=plant,
                    category=category,
                    day=day,
                    spike=sid,
                )
            )

    # Urgent petitions and look-alikes: a background petition with one more sentence (or,
    # now and then, the sentence alone).
    kinds = sorted(URGENT_SENTENCES)
    for i in range(urgent + hard_negatives):
        is_urgent = i < urgent
        plant = rng.choices(range(1, 21), weights=PLANT_WEIGHTS)[0]
        category = rng.choice(list(CATEGORY_WEIGHTS))
        day = rng.uniform(0, DAYS)
        kind = kinds[i % len(kinds)] if is_urgent else None
        sentence = (
            rng.choice(URGENT_SENTENCES[kind]) if kind else rng.choice(HARD_NEGATIVE_SENTENCES)
        )
        if rng.random() < 0.15:
            sentence = to_traditional(sentence)
        if rng.random() < 0.1:
            sentence = " ".join(sentence)  # spaced out, as some people type
        body = background(plant, category, day)
        if rng.random() < 0.15:
            text = sentence
        elif rng.random() < 0.5:
            text = body + sentence
        else:
            text = sentence + body
        rows.append(
            dict(
                text=text,
                unit_id=plant,
                category=category,
                day=day,
                urgent=kind,
                hard_negative=not is_urgent,
            )
        )

    rows.sort(key=lambda r: float(r["day"]))  # type: ignore[arg-type]
    samples: list[Sample] = []
    for i, row in enumerate(rows, start=1):
        day = float(row.pop("day"))  # type: ignore[arg-type]
        samples.append(Sample(id=i, at=_when(rng, day), **row))  # type: ignore[arg-type]
    members: dict[int, list[int]] = {}
    for s in samples:
        if s.matter is not None:
            members.setdefault(s.matter, []).append(s.id)
    planted = [
        PlantedCluster(c.id, c.topic, c.category, c.unit_id, c.start, c.days,
                       tuple(members.get(c.id, ())))
        for c in planted
    ]  # fmt: skip
    extra = {"collisions": collisions[0]}
    return Dataset(seed, tree, samples, planted, planted_spikes, extra=extra)


def scaled(n: int, seed: int = 16) -> tuple[list[Sample], UnitTree]:
    """About ``n`` petitions and their tree: the generator repeated with seeds seed,
    seed+1, …, each repetition in units of its own (a group of 1,000 plants for 100,000
    petitions in the same 26 weeks: a 14-day window holds about 7,700 petitions), ids
    renumbered in time order, matters kept apart per repetition."""
    out: list[Sample] = []
    units = [Unit(1, "GROUP", "集团总部", None)]
    k = 0
    while len(out) < n:
        data = generate(seed + k)
        base = (k + 1) * 1000  # unit u of repetition k is base + u
        for unit in data.tree:
            parent = 1 if unit.parent_id is None else base + unit.parent_id
            units.append(Unit(base + unit.id, f"R{k}-{unit.code}", unit.name, parent))
        for sample in data.samples:
            if len(out) >= n:
                break
            matter = None if sample.matter is None else sample.matter + base
            out.append(replace(sample, unit_id=base + sample.unit_id, matter=matter, spike=None))
        k += 1
    out.sort(key=lambda x: x.at)
    return [replace(x, id=i) for i, x in enumerate(out, start=1)], UnitTree(units)


def summary(data: Dataset) -> dict[str, int]:
    """Counts to print next to the figures."""
    samples: Sequence[Sample] = data.samples
    return {
        "petitions": len(samples),
        "in planted clusters": sum(s.matter is not None for s in samples),
        "planted clusters": len(data.clusters),
        "planted spikes": len(data.spikes),
        "urgent": sum(s.urgent is not None for s in samples),
        "hard negatives": sum(s.hard_negative for s in samples),
        "background label collisions": data.extra.get("collisions", 0),
    }
