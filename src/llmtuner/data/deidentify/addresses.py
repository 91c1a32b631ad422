"""Street addresses: after an address label (住址, 现住址, 家住, 居住于 …), or unlabelled when they start with
a province, autonomous region or municipality (浙江省…, 北京市…).

An address must reach below the district: a road, lane, village, compound or house number (路, 弄, 村, 号,
单元, 室 …). So 浙江省中医院, 杭州市第一人民医院 and 患者来自农村 stay: a hospital or a province is not
where a patient lives. After a strong label (住址：) the value is taken up to the next punctuation if it
holds any address word; after a weak one (来自, 住在) only if it is address-shaped.

Why not jionlp's parse_location / recognize_location: parse_location splits an address that is already
cut out of the text, and recognize_location names the province, city and county a text mentions but not
where the address is; replacing what it names removes 7 of the corpus's 29 addresses (README).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from .engine import DETECTORS, Span

_PROVINCES = ("北京|天津|上海|重庆|河北|山西|辽宁|吉林|黑龙江|江苏|浙江|安徽|福建|江西|山东|河南|湖北|湖南|广东|海南|四川|贵州"
              "|云南|陕西|甘肃|青海|台湾|内蒙古|广西|西藏|宁夏|新疆|香港|澳门")
_PROVINCE = rf"(?:{_PROVINCES})(?:省|市|壮族自治区|回族自治区|维吾尔自治区|自治区|特别行政区)"
_STRONG_LABEL = (r"(?:现住址|家庭住址|家庭地址|户籍地址|户籍所在地|常住地址|通讯地址|联系地址|居住地址|现居住地|居住地|工作单位地址"
                 r"|单位地址|住址|地址|住所)")
_WEAK_LABEL = r"(?:家住|住在|住于|居住于|居住在|现居住|现居|现住|来自|患者住|病人住|患者系|系)"
_RUN = r"[\u4e00-\u9fff0-9A-Za-z#-]"
_ADDRESS_WORD = re.compile(r"[省市区县镇乡村路街巷弄号楼室栋幢组院苑屯旗]|单元|小区|胡同|大道|大街|花园|公寓|大厦")
_DIVISION = re.compile(r"(?:省|自治区|市|区|县|镇|乡|旗|街道)")
_BELOW_DISTRICT = re.compile(r"(?:路|街|巷|弄|村|胡同|道|里|组|屯|小区|花园|公寓|大厦|\d+号)")
# Where an address ends: the last of these, with a room or house number after it (…3号楼2单元501).
_END = re.compile(r"(?:号(?:院|楼)?|室|栋|幢|单元|楼|层|座|组|村|弄|巷|胡同|街道|路|街|大道|小区|花园|公寓|大厦|苑|屯)"
                  r"(?:[0-9A-Za-z-]{1,6}(?:室|号)?)?")

_STRONG = re.compile(rf"{_STRONG_LABEL}\s*[:]?\s*(?P<v>{_RUN}{{2,80}})")
_WEAK = re.compile(rf"{_WEAK_LABEL}(?P<v>{_RUN}{{4,80}})")
_BARE = re.compile(rf"(?P<v>{_PROVINCE}{_RUN}{{4,80}})")


def _trimmed_end(value: str) -> int:
    """Length of ``value`` up to the end of its last address word: …文三路259号，and the words after go."""
    end = 0
    for match in _END.finditer(value):
        end = match.end()
    return end


def _address_shaped(value: str) -> bool:
    return _DIVISION.search(value) is not None and _BELOW_DISTRICT.search(value) is not None


def find_addresses(text: str) -> Iterator[Span]:
    for match in _STRONG.finditer(text):
        value = match.group("v")
        if _ADDRESS_WORD.search(value):
            end = _trimmed_end(value) or len(value)
            yield Span(match.start("v"), match.start("v") + end, "address")
    for pattern in (_WEAK, _BARE):
        for match in pattern.finditer(text):
            value = match.group("v")
            end = _trimmed_end(value)
            if end and _address_shaped(value[:end]):
                yield Span(match.start("v"), match.start("v") + end, "address")


DETECTORS.append(find_addresses)
