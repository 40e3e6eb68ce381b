"""The command network 区 → 街道 → 社区: which centre steers a ticket, who sees it, and the hand-overs
上报 (to the centre above) and 下派 (to a centre below).

A centre is a department with an `area_code` (街道综治中心, 社区工作站); the district centre is the
absence of one (`Ticket.centre_id` None). A centre's dispatchers and shift leads (users whose
`area_code` is the centre's area) see every ticket of that area and steer the tickets the centre holds:
its queue (待人工派遣 held by it), dispatch to a department or to its own staff, 核查, 上报 and 下派.
The district centre sees everything and may act on any ticket.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, col, select

from dispatch.auth.models import CENTRE_ROLES, User
from dispatch.catalog.models import Department
from dispatch.errors import Forbidden, InvalidInput, InvalidTransition
from dispatch.grids.locator import GridLocator, GridPlace, current_locator
from dispatch.grids.models import AreaLevel
from dispatch.tickets.models import Action, EscalationLevel, Ticket, TicketLog
from dispatch.tickets.service import record

DISTRICT_NAME = "区指挥中心"
# The escalation label (上报层级) a ticket carries once a centre of this level holds it.
LEVEL_OF: dict[AreaLevel, EscalationLevel] = {
    AreaLevel.COMMUNITY: EscalationLevel.COMMUNITY,
    AreaLevel.STREET: EscalationLevel.STREET,
    AreaLevel.DISTRICT: EscalationLevel.DISTRICT,
}


def is_scoped(user: User) -> bool:
    """A dispatcher, shift lead or leader of a street or community centre (not of the district)."""
    return user.role in CENTRE_ROLES and user.area_code is not None


def in_territory(
    viewer: User, *, street_code: str | None, community_code: str | None, centre_id: int | None
) -> bool:
    """Whether the ticket is in the viewer's area or held by their centre (as service.visibility())."""
    area = viewer.area_code
    return area in (street_code, community_code) or (
        centre_id is not None and centre_id == viewer.department_id
    )


def can_hand_down(session: Session, ticket: Ticket) -> bool:
    """Whether a centre below the holder covers the ticket: a street (from the district centre) or its
    community (from the street centre)."""
    if ticket.centre_id is None:
        return ticket.street_code is not None
    held = session.get(Department, ticket.centre_id)
    return held is not None and held.area_code == ticket.street_code and ticket.community_code is not None


def check_steers(ticket: Ticket, by: User, action: Action) -> None:
    """A centre's staff steer only the tickets their centre holds (they see the rest of their area)."""
    if is_scoped(by) and ticket.centre_id != by.department_id:
        raise Forbidden("该工单当前不由本中心办理", action=action.value)


def place_in_grid(ticket: Ticket, place: GridPlace | None, locator: GridLocator | None) -> None:
    """Set the ticket's grid (and the duty grid), street and community from a located grid."""
    ticket.grid_code = place.grid_code if place else None
    ticket.duty_grid_code = ticket.grid_code
    ticket.street_code = place.street_code if place else None
    ticket.community_code = place.community_code if place else None
    if locator is not None:
        ticket.grid_version_id = locator.version_id


@dataclass(frozen=True)
class CentreBook:
    """Every centre, by id and by area code, read once."""

    by_id: dict[int, Department]
    by_area: dict[str, Department]

    @classmethod
    def load(cls, session: Session) -> CentreBook:
        centres = session.exec(select(Department).where(col(Department.area_code).is_not(None))).all()
        return cls({d.id or 0: d for d in centres}, {d.area_code or "": d for d in centres})

    def name(self, centre_id: int | None) -> str:
        return DISTRICT_NAME if centre_id is None else self.by_id[centre_id].name


def centre_above(book: CentreBook, locator: GridLocator, centre: Department) -> Department | None:
    """The nearest centre above this one (None: the district centre)."""
    area = locator.parent.get(centre.area_code or "")
    while area is not None:
        if area in book.by_area:
            return book.by_area[area]
        area = locator.parent.get(area)
    return None


def centre_level(locator: GridLocator | None, centre: Department | None) -> EscalationLevel:
    """The 上报层级 of a ticket this centre holds."""
    if centre is None or locator is None:
        return EscalationLevel.DISTRICT
    level = locator.level.get(centre.area_code or "")
    return LEVEL_OF.get(level, EscalationLevel.DISTRICT) if level else EscalationLevel.DISTRICT


def hand_up(session: Session, *, ticket: Ticket, by: User | None, note: str) -> TicketLog:
    """上报 from a centre's queue: the ticket goes to the queue of the centre above (the district centre
    above a street) with the reason; the new holder sees it appear live and takes it from there."""
    locator = _locator(session)
    book = CentreBook.load(session)
    held = book.by_id.get(ticket.centre_id or 0)
    if held is None:
        raise InvalidTransition("区指挥中心已是最高一级，无法继续上报", state=ticket.state.value)
    if by is not None and not note.strip():
        raise InvalidInput("上报须说明理由", field="note")
    above = centre_above(book, locator, held)
    return into_queue(
        session,
        ticket=ticket,
        centre=above,
        locator=locator,
        action=Action.ESCALATE,
        actor=by,
        reason=f"{held.name}上报：{note.strip()}" if note.strip() else f"{held.name}上报",
        note=note.strip(),
        data={"level": centre_level(locator, above).value, "from_centre_id": held.id},
    )


def hand_down(session: Session, *, ticket: Ticket, by: User, centre_id: int, note: str = "") -> TicketLog:
    """下派: from a centre's queue to the queue of a centre below it whose area holds the ticket."""
    from dispatch.tickets.workflow import authorize  # workflow imports this module

    authorize(ticket, by, Action.HAND_DOWN)
    locator = _locator(session)
    book = CentreBook.load(session)
    target = book.by_id.get(centre_id)
    if target is None:
        raise InvalidInput(f"不是街道或社区中心：{centre_id}", field="centre_id")
    held = book.by_id.get(ticket.centre_id or 0)
    target_area = target.area_code or ""
    if held is not None and (held.id == target.id or not locator.contains(held.area_code or "", target_area)):
        raise InvalidInput(f"{target.name}不在{held.name}的下级", field="centre_id")
    if target_area not in (ticket.street_code, ticket.community_code):
        raise InvalidInput(f"工单不在{target.name}的辖区内，不能下派给它", field="centre_id")
    return into_queue(
        session,
        ticket=ticket,
        centre=target,
        locator=locator,
        action=Action.HAND_DOWN,
        actor=by,
        reason=f"{book.name(ticket.centre_id)}下派" + (f"：{note.strip()}" if note.strip() else ""),
        note=note.strip(),
        data={"from_centre_id": ticket.centre_id},
    )


def into_queue(
    session: Session,
    *,
    ticket: Ticket,
    centre: Department | None,
    locator: GridLocator | None,
    action: Action,
    actor: User | None,
    reason: str,
    note: str,
    data: dict[str, object],
) -> TicketLog:
    """Put the ticket in a centre's queue (None: the district centre's) by `action` — routed there,
    上报, 下派 — with the reason shown in the queue; its 承办人 is that centre's to name. The log row
    names the centre (`centre_id`, `centre_name`): the timeline and the KPIs by centre read it."""
    ticket.centre_id = centre.id if centre else None
    ticket.assignee_id = None
    ticket.escalation_level = centre_level(locator, centre)
    ticket.manual_reason = reason
    named = {"centre_id": ticket.centre_id, "centre_name": centre.name if centre else DISTRICT_NAME}
    return record(session, ticket=ticket, action=action, actor=actor, note=note, data={**data, **named})


def _locator(session: Session) -> GridLocator:
    locator = current_locator(session)
    if locator is None:
        raise InvalidTransition("尚未导入网格，无法在中心之间移交")
    return locator
