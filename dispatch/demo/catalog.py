"""Demo base data: departments, the category table with time limits, and routing rules.

Category codes 06–10 follow the national standard (GB/T 47678.5-2026) examples; 20–24 are this
district's own extension for governance work (矛盾纠纷, 安全隐患, 民生服务, 生态环境, 违法建设).
"""

from __future__ import annotations

from dispatch.catalog.models import LimitUnit

WH, WD, H = LimitUnit.WORKING_HOURS, LimitUnit.WORKING_DAYS, LimitUnit.HOURS

# (code, name)
DEPARTMENTS: tuple[tuple[str, str], ...] = (
    ("cg", "区城市管理局"),
    ("zj", "区住房和城乡建设局"),
    ("scjg", "区市场监督管理局"),
    ("sthj", "市生态环境局平城分局"),
    ("wj", "区卫生健康局"),
    ("mz", "区民政局"),
    ("sf", "区司法局"),
    ("ga", "市公安局平城分局"),
    ("yj", "区应急管理局"),
    ("sw", "区水务局"),
    ("gr", "区供热管理办公室"),
    ("xf", "区信访局"),
)

# Closing these needs the grid officer's on-site 核查 (sent to their phone after the department's 反馈).
NEEDS_VERIFICATION = frozenset({"06031", "09012", "21002", "21003", "21004"})

# (code, name, parent, normal limit, unit, urgent limit, unit)
CATEGORIES: tuple[tuple[str, str, str | None, int, LimitUnit, int, LimitUnit], ...] = (
    ("06", "市容环境", None, 3, WD, 4, WH),
    ("06010", "暴露垃圾", "06", 4, WH, 2, WH),
    ("06012", "道路不洁", "06", 4, WH, 2, WH),
    ("06027", "油烟污染", "06", 5, WD, 1, WD),
    ("06028", "噪声扰民", "06", 3, WD, 4, WH),
    ("06030", "楼道堆物", "06", 3, WD, 4, WH),
    ("06031", "飞线充电", "06", 1, WD, 4, WH),
    ("07", "宣传广告", None, 2, WD, 4, WH),
    ("07001", "非法小广告", "07", 1, WD, 4, WH),
    ("08", "施工管理", None, 5, WD, 1, WD),
    ("08001", "施工扰民", "08", 3, WD, 4, WH),
    ("08004", "工地扬尘", "08", 2, WD, 4, WH),
    ("09", "街面秩序", None, 1, WD, 2, WH),
    ("09006", "占道经营", "09", 4, WH, 2, WH),
    ("09009", "机动车乱停放", "09", 4, WH, 1, WH),
    ("09012", "占用消防通道", "09", 2, WH, 1, H),
    ("10", "其他", None, 5, WD, 1, WD),
    ("10001", "其他事件", "10", 5, WD, 1, WD),
    ("20", "矛盾纠纷", None, 10, WD, 1, WD),
    ("20001", "邻里纠纷", "20", 5, WD, 1, WD),
    ("20002", "物业纠纷", "20", 10, WD, 2, WD),
    ("20003", "劳资纠纷", "20", 10, WD, 2, WD),
    ("21", "安全生产隐患", None, 3, WD, 2, H),
    ("21001", "建筑施工安全隐患", "21", 1, WD, 2, H),
    ("21002", "人员密集场所消防隐患", "21", 1, WD, 2, H),
    ("21003", "燃气管道隐患", "21", 4, WH, 1, H),
    ("21004", "自建房安全隐患", "21", 3, WD, 4, H),
    ("22", "民生服务", None, 5, WD, 1, WD),
    ("22001", "物业服务", "22", 5, WD, 1, WD),
    ("22002", "供暖问题", "22", 2, WD, 4, WH),
    ("22003", "供水问题", "22", 1, WD, 4, WH),
    ("23", "生态环境", None, 5, WD, 1, WD),
    ("23001", "秸秆焚烧", "23", 2, WH, 1, H),
    ("23002", "河道污染", "23", 3, WD, 1, WD),
    ("24", "违法建设", None, 15, WD, 3, WD),
    ("24001", "私搭乱建", "24", 15, WD, 3, WD),
)

# (category or 大类, area code or "district", department code or "street"): "street" means the
# street office (街道办事处) of the area named, "centre" the area's own centre (社区工作站); area
# "all-streets" / "all-communities" gives every street / community its rule. Category "10" has no
# rule: it goes to the manual queue.
RULES: tuple[tuple[str, str, str], ...] = (
    ("06", "district", "cg"),
    ("07", "district", "cg"),
    ("08", "district", "zj"),
    ("08004", "district", "sthj"),
    ("09", "district", "cg"),
    ("09009", "district", "ga"),
    ("20", "district", "sf"),
    ("21", "district", "yj"),
    ("21003", "district", "zj"),
    ("21002", "district", "yj"),
    ("22", "district", "zj"),
    ("22002", "district", "gr"),
    ("22003", "district", "sw"),
    ("23", "district", "sthj"),
    ("23002", "district", "sw"),
    ("24", "district", "cg"),
    # 古城街道 handles street order and city appearance in the old town itself (综合执法下沉).
    ("06", "140213051", "street"),
    ("09", "140213051", "street"),
    # Neighbour disputes go to each street's mediation office; in 御河街道 to the 司法所 of the district.
    ("20001", "all-streets", "street"),
    # Small neighbourhood matters go first to the community workstation (先社区、后街道、再区).
    ("06030", "all-communities", "centre"),
    ("06031", "all-communities", "centre"),
)

# 12345 request types with limits of their own (诉求类型时限): (request type, category or "*", urgency,
# amount, unit, note). 投诉 and 举报 follow the category's limits.
TIME_LIMITS: tuple[tuple[str, str, str, int, LimitUnit, str], ...] = (
    ("consult", "*", "normal", 1, WD, "咨询：当个工作日内答复"),
    ("consult", "*", "urgent", 2, WH, "紧急咨询：2 个工作小时内答复"),
    ("help", "*", "urgent", 2, WH, "紧急求助：2 个工作小时内处置"),
    ("help", "*", "normal", 3, WD, "求助：3 个工作日内办结"),
    ("suggestion", "*", "normal", 10, WD, "建议：10 个工作日内答复"),
    ("suggestion", "*", "urgent", 5, WD, "建议不设紧急时限，按 5 个工作日答复"),
)
