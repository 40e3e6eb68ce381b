"""What arrives during a demo month: patrol reports and 12345 calls at random times, places and
categories, drawn from a seed before anything is played (dispatch.demo.history plays them).

More on working days than on rest days, office hours heavier; grid officers report during their patrol
hours, the hotline answers around the clock. A few reports repeat an earlier one (same place and
category within two days: a 重复件 the centre merges)."""

from __future__ import annotations

import io
import math
import random
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from PIL import Image, ImageDraw
from sqlmodel import Session, col, select

from dispatch.catalog.models import Urgency
from dispatch.events.models import RequestType, Source
from dispatch.events.photos import Photo
from dispatch.gazetteer.models import AddressPoint
from dispatch.worktime import is_workday

# (category, weight) of what grid officers find on patrol and what callers ring 12345 about in November
# (the heating season starts: 供暖问题 leads the calls).
PATROL_MIX: tuple[tuple[str, int], ...] = (
    ("06010", 12), ("06012", 8), ("07001", 8), ("09006", 10), ("09009", 8), ("06030", 9),
    ("06031", 7), ("09012", 4), ("08004", 4), ("24001", 3), ("21004", 2), ("21002", 2),
    ("21003", 1), ("23002", 1), ("10001", 3), ("20001", 2),
)  # fmt: skip
HOTLINE_MIX: tuple[tuple[str, int], ...] = (
    ("06028", 10), ("22002", 14), ("22001", 8), ("22003", 5), ("08001", 6), ("06027", 5),
    ("06010", 4), ("09009", 5), ("20002", 4), ("20003", 3), ("20001", 3), ("06030", 3),
    ("06031", 2), ("10001", 6), ("23001", 1), ("21003", 2), ("09006", 3),
)  # fmt: skip
REQUEST_MIX: tuple[tuple[RequestType, int], ...] = (
    (RequestType.COMPLAINT, 40),
    (RequestType.HELP, 20),
    (RequestType.CONSULT, 18),
    (RequestType.REPORT, 12),
    (RequestType.SUGGESTION, 10),
)
# Small matters an officer may put right on the spot (自行处置, with a photo).
SELF_RESOLVABLE = ("06010", "06012", "07001", "09006", "09009", "06030")
# Calls per hour of the day (Beijing time), relative.
HOTLINE_HOURS = (1, 0.5, 0.3, 0.3, 0.3, 0.6, 1.5, 3, 5, 7, 7, 6, 4, 4, 6, 6, 6, 5, 4, 3.5, 3, 2.5, 2, 1.5)
PATROL_SHARE = 0.55
REST_DAY_SHARE = 0.35  # a rest day brings this share of a working day's tickets (mostly calls)
REPEAT_SHARE = 0.06  # reports that repeat an open one (重复件)

TEXTS: dict[str, tuple[str, ...]] = {
    "06010": ("{a}路边垃圾堆放未清运，有异味", "{a}垃圾桶满溢，周边散落生活垃圾"),
    "06012": ("{a}路面泥土、落叶较多，道路不洁", "{a}人行道有油污和建筑碎屑"),
    "06027": ("{a}餐馆油烟直排，居民窗户被熏黑", "{a}烧烤店油烟扰民，晚间尤为严重"),
    "06028": ("{a}夜间有商户音响声音过大，影响休息", "{a}广场舞音量过大，晚上九点后仍未停止"),
    "06030": ("{a}楼道内堆放纸箱和旧家具，堵塞通道", "{a}单元楼梯间堆满杂物，存在消防隐患"),
    "06031": ("{a}有居民从楼上私拉电线给电动车充电", "{a}楼下飞线充电，电线横穿人行道"),
    "07001": ("{a}墙面、电线杆上张贴大量小广告", "{a}公交站牌被喷涂办证小广告"),
    "08001": ("{a}工地夜间施工噪音很大，影响休息", "{a}工地早上六点前就开始作业"),
    "08004": ("{a}工地未覆盖裸土，扬尘严重", "{a}渣土车未密闭运输，沿途扬尘"),
    "09006": ("{a}商户占道经营，摆摊至人行道", "{a}流动摊贩占用路口，影响通行"),
    "09009": ("{a}机动车长期占用人行道停放", "{a}车辆乱停放堵塞小区出入口"),
    "09012": ("{a}消防通道被私家车占用", "{a}消防车通道堆放物品，无法通行"),
    "10001": ("{a}井盖松动，行人经过有响声", "{a}路灯不亮已有一周", "{a}流浪犬较多，居民担心安全"),
    "20001": ("{a}邻里因漏水问题发生纠纷，需要调解", "{a}楼上楼下因噪音多次争吵"),
    "20002": ("{a}物业与业主因收费问题产生纠纷", "{a}业主反映物业擅自占用公共部位"),
    "20003": ("{a}务工人员反映工程款被拖欠", "{a}店铺员工反映被拖欠两个月工资"),
    "21002": ("{a}商场安全出口被锁闭", "{a}网吧内灭火器过期，疏散通道堆物"),
    "21003": ("{a}闻到燃气异味，疑似管道泄漏", "{a}燃气管道锈蚀严重"),
    "21004": ("{a}自建房墙体开裂，存在安全隐患", "{a}私自加层的民房出现裂缝"),
    "22001": ("{a}小区电梯经常停运，物业不处理", "{a}物业长期不清理小区卫生"),
    "22002": ("{a}家中暖气不热，室温不到十五度", "{a}整栋楼暖气未通，老人孩子受冻"),
    "22003": ("{a}停水两天未恢复，也无通知", "{a}自来水浑浊发黄"),
    "23001": ("{a}有人焚烧秸秆和垃圾，浓烟很大",),
    "23002": ("{a}河道内漂浮大量垃圾，有异味", "{a}有排污口向河道排放污水"),
    "24001": ("{a}楼顶私自搭建彩钢房", "{a}底商私自扩建，占用公共绿地"),
}
# What departments and leaders write as the month goes on.
FEEDBACK_TEXTS = (
    "已到现场处置完毕，现场已恢复正常",
    "已责令当事人整改，现已整改到位",
    "已联系相关责任单位处理完毕，并向群众做好解释",
    "已安排人员清理，后续纳入日常巡查",
)
RETURN_REASONS = (
    "该事项不属于本单位职责范围",
    "事发地点不在本单位管辖范围，请改派",
    "该问题应由属地街道处置",
)
URGE_TEXTS = ("请加快办理进度，按期反馈", "群众反映强烈，请优先处置", "领导批示：请尽快办结并报结果")
_SURNAMES = "王李张刘陈杨赵黄周吴徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾"


@dataclass(frozen=True)
class Arrival:
    """One report to play: who reports what, where and when."""

    number: int
    at: datetime
    source: Source
    category_code: str
    urgency: Urgency
    request_type: RequestType | None
    lon: float
    lat: float
    located: bool  # a caller who gives only the address (placed by the gazetteer)
    address: str
    grid_code: str
    description: str
    caller_name: str
    caller_phone: str
    photo: bool
    self_resolved: bool
    repeat_of: int | None  # the arrival this one repeats (a 重复件)


@dataclass(frozen=True)
class Spot:
    text: str
    lon: float
    lat: float
    grid_code: str


def spots(session: Session) -> list[Spot]:
    """The demo gazetteer's addresses inside a grid: where things happen."""
    rows = session.exec(
        select(AddressPoint).where(col(AddressPoint.grid_code).is_not(None)).order_by(col(AddressPoint.id))
    ).all()
    return [Spot(r.text, r.lon, r.lat, r.grid_code or "") for r in rows]


def plan_arrivals(
    rng: random.Random, *, start: date, end: date, per_day: float, places: list[Spot], tz: ZoneInfo
) -> list[Arrival]:
    """Every report of the days [start, end), ordered by time; about `per_day` on each working day."""
    arrivals: list[Arrival] = []
    day = start
    while day < end:
        workday = is_workday(day)
        mean = per_day if workday else per_day * REST_DAY_SHARE
        count = max(0, round(rng.gauss(mean, math.sqrt(mean))))
        for _ in range(count):
            patrol = rng.random() < (PATROL_SHARE if workday else 0.15)
            at = _patrol_time(rng, day, tz) if patrol else _call_time(rng, day, tz)
            arrivals.append(_arrival(rng, len(arrivals), at, patrol, places, arrivals))
        day += timedelta(days=1)
    arrivals.sort(key=lambda a: (a.at, a.number))
    # Number them in time order; a repeat names its original by that order.
    renumber = {a.number: n for n, a in enumerate(arrivals)}
    return [
        replace(a, number=n, repeat_of=None if a.repeat_of is None else renumber[a.repeat_of])
        for n, a in enumerate(arrivals)
    ]


def _patrol_time(rng: random.Random, day: date, tz: ZoneInfo) -> datetime:
    morning = rng.random() < 0.5
    start, span = (time(8, 40), 190) if morning else (time(13, 40), 220)
    return datetime.combine(day, start, tz) + timedelta(minutes=rng.uniform(0, span))


def _call_time(rng: random.Random, day: date, tz: ZoneInfo) -> datetime:
    hour = rng.choices(range(24), weights=HOTLINE_HOURS)[0]
    return datetime.combine(day, time(hour), tz) + timedelta(seconds=rng.uniform(0, 3599))


def _pick(rng: random.Random, mix: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([c for c, _ in mix], weights=[w for _, w in mix])[0]


def _arrival(
    rng: random.Random, number: int, at: datetime, patrol: bool, places: list[Spot], before: list[Arrival]
) -> Arrival:
    earlier = [
        a
        for a in before[-60:]
        if timedelta(0) < at - a.at < timedelta(hours=48) and not a.self_resolved and a.repeat_of is None
    ]
    original = rng.choice(earlier) if earlier and rng.random() < REPEAT_SHARE else None
    if original is not None:
        category = original.category_code
        spot = Spot(original.address, original.lon, original.lat, original.grid_code)
    else:
        category = _pick(rng, PATROL_MIX if patrol else HOTLINE_MIX)
        spot = rng.choice(places)
    lon = spot.lon + rng.uniform(-0.00008, 0.00008)  # a few metres from the address point
    lat = spot.lat + rng.uniform(-0.00006, 0.00006)
    request_type = None
    if not patrol:
        request_type = rng.choices([t for t, _ in REQUEST_MIX], weights=[w for _, w in REQUEST_MIX])[0]
    urgent = rng.random() < (0.25 if request_type is RequestType.HELP else 0.08)
    description = rng.choice(TEXTS[category]).format(a=spot.text)
    return Arrival(
        number=number,
        at=at,
        source=Source.PATROL if patrol else Source.HOTLINE,
        category_code=category,
        urgency=Urgency.URGENT if urgent else Urgency.NORMAL,
        request_type=request_type,
        lon=lon,
        lat=lat,
        located=patrol or rng.random() < 0.8,
        address=spot.text,
        grid_code=spot.grid_code,
        description=description,
        caller_name="" if patrol else f"{rng.choice(_SURNAMES)}{rng.choice(('先生', '女士'))}",
        caller_phone="" if patrol else f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}",
        photo=patrol and rng.random() < 0.7,
        self_resolved=patrol and original is None and category in SELF_RESOLVABLE and rng.random() < 0.3,
        repeat_of=original.number if original is not None else None,
    )


def make_photos(count: int = 6) -> list[Photo]:
    """Small JPEGs for reports, 反馈 and field checks (a coloured scene with a few shapes)."""
    rng = random.Random(1)
    photos = []
    for n in range(count):
        image = Image.new("RGB", (160, 120), (rng.randrange(90, 200), rng.randrange(90, 200), 140))
        draw = ImageDraw.Draw(image)
        for _ in range(4):
            x, y = rng.randrange(0, 130), rng.randrange(0, 90)
            colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
            draw.rectangle((x, y, x + rng.randrange(10, 40), y + rng.randrange(10, 40)), fill=colour)
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=70)
        photos.append(Photo(f"现场照片{n + 1}.jpg", "image/jpeg", buffer.getvalue(), 160, 120))
    return photos
