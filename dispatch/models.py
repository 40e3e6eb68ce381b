"""Imports every table module so SQLModel.metadata knows them all (for Alembic and tests)."""

from sqlmodel import SQLModel

from dispatch.audit import AuditEntry
from dispatch.auth.models import User
from dispatch.catalog.models import Category, Department, RoutingRule, TimeLimit
from dispatch.events.models import Attachment, Event
from dispatch.gazetteer.models import AddressPoint
from dispatch.grids.models import Area, GridVersion
from dispatch.interop.keys import ApiKey, ApiKeyUse
from dispatch.interop.outbox import DeliveryAttempt, OutboxMessage, SeenSignature
from dispatch.interop.webhooks import WebhookSubscription
from dispatch.places.models import Place
from dispatch.scoring.models import ScoringTemplate
from dispatch.stats.models import KpiRollup, KpiTicket, KpiWatermark
from dispatch.tickets.models import Ticket, TicketLog
from dispatch.tickets.side_models import (
    AssistTask,
    DuplicateSuggestion,
    ExtensionRequest,
    Notice,
    TicketReporter,
    VerificationTask,
)
from dispatch.workcal.models import CalendarDay, CalendarYear

metadata = SQLModel.metadata

__all__ = [
    "AddressPoint",
    "ApiKey",
    "ApiKeyUse",
    "Area",
    "AssistTask",
    "Attachment",
    "AuditEntry",
    "CalendarDay",
    "CalendarYear",
    "Category",
    "DeliveryAttempt",
    "Department",
    "DuplicateSuggestion",
    "Event",
    "ExtensionRequest",
    "GridVersion",
    "KpiRollup",
    "KpiTicket",
    "KpiWatermark",
    "Notice",
    "OutboxMessage",
    "Place",
    "RoutingRule",
    "ScoringTemplate",
    "SeenSignature",
    "Ticket",
    "TicketLog",
    "TicketReporter",
    "TimeLimit",
    "User",
    "VerificationTask",
    "WebhookSubscription",
    "metadata",
]
