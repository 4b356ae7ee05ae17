"""The demo's people, places and identifiers, and the reference workbook they fill.

Randomness comes only from the ``random.Random`` the caller passes in, so the story in demo.py
stays reproducible from its seed: the 22 Shandong members and their credit lines with the 5 banks,
the fund's entries, borrowers and contacts with valid 统一社会信用代码 and resident ID numbers
(the benchmark generator borrows these helpers too).
"""
from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

from stdnum.cn import ric, uscc

from .home import Home
from .model import CITIES
from .money import round_fen
from .reports.templates import DEFAULT_PRODUCT_RULES, write_reference_template

OPENING = date(2026, 3, 2)      # the first of the demo's nights; the fund's opening balance
BANKS = (("B01", "天津银行济南分行"), ("B02", "齐鲁银行"), ("B03", "中国农业银行山东省分行"),
         ("B04", "山东省农村信用社联合社"), ("B05", "青岛银行"))
BANK_CODES = {"B01": "TJYH", "B02": "QLYH", "B03": "NYSD", "B04": "SDNX", "B05": "QDYH"}
WAN = Decimal(10000)

# city, pinyin (for e-mail addresses), telephone area code, two counties with their region codes
PLACES_TABLE = """
济南市 jinan 0531 历下区 370102 章丘区 370114 | 青岛市 qingdao 0532 市南区 370202 黄岛区 370211
淄博市 zibo 0533 张店区 370303 临淄区 370305 | 枣庄市 zaozhuang 0632 市中区 370402 滕州市 370481
东营市 dongying 0546 东营区 370502 广饶县 370523 | 烟台市 yantai 0535 芝罘区 370602 龙口市 370681
潍坊市 weifang 0536 奎文区 370705 寿光市 370783 | 济宁市 jining 0537 任城区 370811 曲阜市 370881
泰安市 taian 0538 泰山区 370902 新泰市 370982 | 威海市 weihai 0631 环翠区 371002 荣成市 371082
日照市 rizhao 0633 东港区 371102 莒县 371122 | 临沂市 linyi 0539 兰山区 371302 沂水县 371323
德州市 dezhou 0534 德城区 371402 禹城市 371482 | 聊城市 liaocheng 0635 东昌府区 371502 临清市 371581
滨州市 binzhou 0543 滨城区 371602 邹平市 371626 | 菏泽市 heze 0530 牡丹区 371702 曹县 371721
"""
PLACES = {f[0]: (f[1], f[2], ((f[3], f[4]), (f[5], f[6])))
          for f in map(str.split, PLACES_TABLE.replace("|", "\n").strip().splitlines())}
KINDS = ("中小企业融资担保有限公司", "融资担保集团有限公司", "财金融资担保有限公司", "农业融资担保有限公司")
MEMBER_NAMES = tuple(f"{city}{KINDS[n % 4]}" for n, city in enumerate(CITIES)) + (
    "济南高新融资担保有限公司", "青岛西海岸融资担保有限公司", "潍坊寿光农业融资担保有限公司",
    "临沂兰山中小企业融资担保有限公司", "济宁曲阜融资担保有限公司", "烟台龙口融资担保有限公司")
SUSPENDED = "M021"
PRODUCT_SETS = ("BL,ZY,LD", "BL,YB,LH", "BL,ZY,FD", "BL,LD,YB", "BL,LH,FD", "BL,ZY,LD,YB,LH,FD")
SURNAMES = "王李张刘陈杨赵黄周吴徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡"
GIVEN = "建国红梅志强秀英海涛丽娟文军春燕立新桂兰振华玉珍明辉淑芳永刚晓东金凤德胜"
WORDS = ("鑫达", "恒源", "瑞丰", "宏图", "华泰", "金诚", "永盛", "天润", "博远", "德信", "海川",
         "利民", "正阳", "汇通", "盛世", "新元", "隆兴", "聚力", "万通", "鲁亿", "泰和", "齐润")
TRADES = (("C", "机械制造"), ("C", "新型建材"), ("C", "食品"), ("C", "纺织"), ("F", "商贸"),
          ("E", "建筑工程"), ("G", "物流"), ("I", "信息技术"), ("H", "餐饮管理"), ("M", "科技"))
SHOPS = (("F", "五金经营部"), ("F", "便民超市"), ("F", "农资店"), ("O", "汽车修理厂"), ("H", "小吃店"))


# ---- identifiers ------------------------------------------------------------------------

def org_code(rng: random.Random) -> str:
    """A 9-character organisation code (GB 11714): 8 digits and their check character."""
    body = str(rng.randrange(10**7, 10**8))
    rest = 11 - sum(int(d) * w for d, w in zip(body, (3, 7, 9, 10, 5, 8, 4, 2))) % 11
    return body + {10: "X", 11: "0"}.get(rest, str(rest))


def make_uscc(rng: random.Random, kind: str, region: str) -> str:
    """A 统一社会信用代码 that passes its check: ``kind`` ("91" company, …) + region + org code."""
    body = kind + region + org_code(rng)
    return body + uscc.calc_check_digit(body)


def resident_id(rng: random.Random, region: str) -> str:
    """A resident ID number with a valid birth date and check digit, born 1962–1994."""
    born = date(1962, 1, 1) + timedelta(days=rng.randrange(12_000))
    body = f"{region}{born:%Y%m%d}{rng.randrange(1000):03d}"
    return body + ric.calc_check_digit(body + "0")


def yuan(wan: int | Decimal) -> Decimal:
    """万元 to yuan: the demo thinks in 万元, the workbooks hold yuan."""
    return round_fen(Decimal(wan) * WAN)


# ---- people -------------------------------------------------------------------------------

class People:
    """Borrowers and contacts, each borrower's name used once, drawn from the demo's own rng."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.names: set[str] = set()

    def person(self) -> str:
        rng = self.rng
        given = rng.randrange(0, len(GIVEN), 2)
        return rng.choice(SURNAMES) + GIVEN[given:given + 2]

    def unique(self, make) -> str:
        while (name := make()) in self.names:
            pass
        self.names.add(name)
        return name

    def borrower(self, city: str, kind: str) -> dict:
        rng = self.rng
        county, region = rng.choice(PLACES[city][2])
        where = {"city": city, "county": county, "borrower_type": kind}
        if kind == "农户" or (kind == "个体工商户" and rng.random() < 0.5):
            industry, shop = ("A", "") if kind == "农户" else rng.choice(SHOPS)
            name = self.unique(lambda: (county + self.person() + shop) if shop else self.person())
            return where | {"borrower_name": name, "borrower_id": resident_id(rng, region),
                            "industry": industry}
        if kind in ("个体工商户", "新型农业经营主体"):
            code, (industry, trade) = ("92", rng.choice(SHOPS)) if kind == "个体工商户" else \
                ("93", ("A", rng.choice(("种植专业合作社", "家庭农场", "养殖专业合作社"))))
            name = self.unique(lambda: county + rng.choice(WORDS) + trade)
        else:
            code, (industry, trade) = "91", rng.choice(TRADES)
            name = self.unique(lambda: city[:-1] + rng.choice(WORDS) + trade + "有限公司")
        return where | {"borrower_name": name, "borrower_id": make_uscc(rng, code, region),
                        "industry": industry}


# ---- the reference workbook -------------------------------------------------------------

def members(rng: random.Random) -> list[dict]:
    """The 22 members, one per city first; M021 is suspended so its filing is refused."""
    rows = []
    for n, name in enumerate(MEMBER_NAMES, start=1):
        city = next(c for c in CITIES if name.startswith(c[:2]))
        member_id = f"M{n:03d}"
        rows.append({
            "member_id": member_id, "member_name": name, "city": city,
            "status": "暂停" if member_id == SUSPENDED else "正常",
            "admitted": date(2018 + rng.randrange(5), rng.randint(1, 12), 1),
            "net_assets": yuan(rng.randrange(10_000, 50_001, 50)),
            "leverage_cap": 15 if ("农业" in name or "中小企业" in name) else 10,
            "products": PRODUCT_SETS[(n - 1) % len(PRODUCT_SETS)],
            "emails": f"baosong.{member_id.lower()}@{PLACES[city][0]}rzdb.com.cn"})
    return rows


def credit_lines(rng: random.Random, member_rows: list[dict]) -> list[dict]:
    """Every member has a line with every bank, wide enough for a month of business."""
    return [{"member_id": m["member_id"], "bank_id": bank_id,
             "amount": yuan(rng.choice((20_000, 30_000, 40_000, 50_000))),
             "start": date(2025, 7, 1), "end": date(2027, 6, 30)}
            for m in member_rows for bank_id, _ in BANKS]


FUND_ROWS = [dict(zip(("date", "kind", "amount", "note"), row)) for row in (
    (OPENING, "期初余额", Decimal("223000000.00"), "中央及省级财政拨入代偿补偿资金"),
    (date(2026, 3, 13), "财政注资", Decimal("20000000.00"), "省财政2026年第一批代偿补偿资金"),
    (date(2026, 3, 21), "利息收入", Decimal("612350.00"), "一季度专户存款利息"))]


def write_reference(home: Home, member_rows: list[dict], credit: list[dict]) -> None:
    """基础数据 with the default product rules, as a new home would start."""
    write_reference_template(home.reference, data={
        "members": member_rows, "banks": [{"bank_id": b, "bank_name": n} for b, n in BANKS],
        "credit": credit, "products": DEFAULT_PRODUCT_RULES, "fund": FUND_ROWS})
