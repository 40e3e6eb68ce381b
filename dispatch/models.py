"""Imports every table module so SQLModel.metadata knows them all (for Alembic and tests)."""

from sqlmodel import SQLModel

from dispatch.auth.models import User
from dispatch.catalog.models import Category, Department, RoutingRule
from dispatch.events.models import Attachment, Event
from dispatch.grids.models import Area, GridVersion
from dispatch.tickets.models import Ticket, TicketLog

metadata = SQLModel.metadata

__all__ = [
    "Area",
    "Attachment",
    "Category",
    "Department",
    "Event",
    "GridVersion",
    "RoutingRule",
    "Ticket",
    "TicketLog",
    "User",
    "metadata",
]
