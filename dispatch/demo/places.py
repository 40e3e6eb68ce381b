"""Demo registers of other departments' places (synthetic, labelled 演示), as CSV texts per register."""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Sequence

from dispatch.demo.geometry import AreaSpec

# register → (kind, name stem, count, extra attribute column and values)
REGISTERS: dict[str, tuple[tuple[str, str, int, str, tuple[str, ...]], ...]] = {
    "市场监管": (
        ("business", "餐馆", 120, "licence", ("食品经营许可",)),
        ("business", "便利店", 60, "licence", ("营业执照",)),
    ),
    "民政": (("care_home", "养老院", 15, "beds", ("30", "60", "120")),),
    "教育": (("school", "小学", 20, "students", ("400", "800", "1200")),),
    "住建": (("construction_site", "建筑工地", 25, "permit", ("施工许可",)),),
    "卫健": (("clinic", "社区卫生服务站", 30, "level", ("一级",)),),
}


def register_csvs(grids: Sequence[AreaSpec], seed: int = 20261128) -> dict[str, str]:
    """One CSV text per register: places at points inside random demo grids (deterministic for a seed)."""
    rng = random.Random(seed)
    texts: dict[str, str] = {}
    for register, kinds in REGISTERS.items():
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["kind", "name", "address", "lon", "lat", "extra"])
        for kind, stem, count, extra_name, values in kinds:
            for n in range(1, count + 1):
                grid = rng.choice(grids)
                point = grid.polygon.representative_point()
                writer.writerow(
                    [
                        kind,
                        f"{grid.name.split('第')[0]}{stem}{n}号（演示）",
                        grid.name,
                        f"{point.x:.7f}",
                        f"{point.y:.7f}",
                        f"{extra_name}={rng.choice(values)}",
                    ]
                )
        texts[register] = buffer.getvalue()
    return texts
