"""How each centre works its queue (待人工派遣) in a demo month: the district centre, a street's
综治中心 and a community's 工作站 each decide — 核实 first, dispatch (to a department, or the
workstation's own staff), 上报 to the centre above, 下派 to one below, or 不予受理."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dispatch.tickets import workflow
from dispatch.tickets.centres import can_hand_down, hand_down
from dispatch.tickets.models import Ticket
from dispatch.tickets.side_moves import escalate

if TYPE_CHECKING:
    from dispatch.demo.history_cast import Case
    from dispatch.demo.history_moves import Play


def district_queue(play: Play, ticket: Ticket, case: Case) -> None:
    by, cast, r = play.cast.dispatcher, play.cast, play.rng.random()
    if ticket.grid_code is None:  # the address did not place it: the dispatcher locates it
        handler = cast.handler_for(ticket.category_code, case.arrival.grid_code[:9])
        play.dispatch_to(
            ticket, case, by, handler.id or 0, grid_code=case.arrival.grid_code, note="人工定位后派遣"
        )
        return
    if not case.checked and r < 0.1 and play.field_check(ticket, by, "请网格员核实现场情况"):
        return
    if ticket.category_code == "10001" and r < 0.18:
        workflow.reject(play.session, ticket=ticket, by=by, reason="不属于政府职能范围，已向反映人解释")
        return
    street_centre = cast.centre_of_area.get(ticket.street_code or "")
    if case.hops < 2 and r < 0.45 and street_centre and can_hand_down(play.session, ticket):
        hand_down(play.session, ticket=ticket, by=by, centre_id=street_centre.id or 0, note="请街道协调处置")
        case.hops += 1
        play.routed(ticket, case)
        return
    play.dispatch_to(ticket, case, by, cast.handler_for(ticket.category_code, ticket.street_code).id or 0)


def street_queue(play: Play, ticket: Ticket, case: Case) -> None:
    centre = play.cast.departments[ticket.centre_id or 0]
    by, r = play.cast.centre_dispatcher[centre.id or 0], play.rng.random()
    community = play.cast.centre_of_area.get(ticket.community_code or "")
    if community and case.hops < 2 and not case.from_community and r < 0.25:
        hand_down(
            play.session, ticket=ticket, by=by, centre_id=community.id or 0, note="请社区工作站先行处置"
        )
        case.hops += 1
        play.routed(ticket, case)
    elif case.hops < 3 and r < 0.35:
        escalate(play.session, ticket=ticket, by=by, note="涉及多个部门，需区级协调")
        case.hops += 1
        play.routed(ticket, case)
    else:
        office = play.cast.street_office(ticket.street_code)
        target = office if office and r < 0.85 else play.cast.handler_for(ticket.category_code, None)
        play.dispatch_to(ticket, case, by, target.id or 0)


def community_queue(play: Play, ticket: Ticket, case: Case) -> None:
    centre = play.cast.departments[ticket.centre_id or 0]
    by, r = play.cast.centre_dispatcher[centre.id or 0], play.rng.random()
    if not case.checked and r < 0.12 and play.field_check(ticket, by, "请网格员核实是否属实"):
        return
    if case.hops < 2 and r < 0.32:
        escalate(play.session, ticket=ticket, by=by, note="需街道协调执法力量处置")
        case.hops += 1
        case.from_community = True
        play.routed(ticket, case)
    elif r < 0.85:
        play.dispatch_to(ticket, case, by, centre.id or 0, note="由工作站人员上门处置")
    else:
        office = play.cast.street_office(ticket.street_code)
        target = office or play.cast.handler_for(ticket.category_code, None)
        play.dispatch_to(ticket, case, by, target.id or 0)
