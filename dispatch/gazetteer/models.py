"""Address points of the gazetteer (地名地址库): road + number, compounds, buildings, landmarks."""

from __future__ import annotations

from enum import StrEnum

from sqlmodel import Field, SQLModel

from dispatch.db import enum_type


class AddressKind(StrEnum):
    ROAD_NUMBER = "road_number"  # 门牌：路 + 号
    COMPOUND = "compound"  # 小区
    BUILDING = "building"  # 楼栋
    LANDMARK = "landmark"  # 地标：学校、医院、市场……


class AddressPoint(SQLModel, table=True):
    """One addressable place with its WGS-84 position; `norm` is its normalised text for matching."""

    __tablename__ = "address_point"

    id: int | None = Field(default=None, primary_key=True)
    kind: AddressKind = Field(sa_type=enum_type(AddressKind))
    road: str = Field(default="", max_length=64)
    number: str = Field(default="", max_length=16)
    compound: str = Field(default="", max_length=64)
    building: str = Field(default="", max_length=32)
    name: str = Field(default="", max_length=128)
    aliases: str = Field(default="", max_length=255)  # "|"-separated other names
    text: str = Field(max_length=255)  # display form, e.g. 御河西路12号
    norm: str = Field(max_length=255, index=True)
    lon: float
    lat: float
    grid_code: str | None = Field(default=None, max_length=32, index=True)
