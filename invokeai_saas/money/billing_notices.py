"""What a workspace's owners and admins are told when its billing changes (written in the webhook's
transaction; keyed by the change, so a replayed delivery tells no one twice)."""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from invokeai_saas.db.tables.tenancy import tenants
from invokeai_saas.mail.notices import NoticeKind, notify_managers

PLAN_PAGE = "/account/plan"


def _name(conn: Connection, tenant_id: str) -> str:
    return str(conn.execute(sa.select(tenants.c.name).where(tenants.c.tenant_id == tenant_id)).scalar_one())


def _when(at: datetime | None) -> str:
    return f"{at:%Y-%m-%d %H:%M} UTC" if at else "soon"


def payment_failed(conn: Connection, tenant_id: str, invoice_id: str, changed_at: datetime) -> None:
    hold = conn.execute(sa.select(tenants.c.billing_hold_at).where(tenants.c.tenant_id == tenant_id)).scalar_one()
    name = _name(conn, tenant_id)
    notify_managers(
        conn, tenant_id, NoticeKind.PAYMENT_FAILED, f"payment-failed:{invoice_id}:{changed_at:%Y%m%d%H%M%S}",
        f"A payment for {name} failed",
        f"The latest payment for your workspace {name} did not go through. Generation stops on {_when(hold)} "
        "unless the payment method is updated; your images and workflows stay.",
        PLAN_PAGE, "Update the payment method",
    )


def subscription_changed(conn: Connection, tenant_id: str, subscription_id: str, before: sa.Row | None,
                         status: str, plan: str, ends_at: datetime | None, changed_at: datetime) -> None:
    """Told when a subscription starts, changes plan, is cancelled, paused, resumed or expires."""
    if before is not None and (before.status, before.plan) == (status, plan):
        return
    name, plan_name = _name(conn, tenant_id), plan.title()
    if before is not None and before.plan != plan:
        title, text = f"{name} is now on the {plan_name} plan", f"Your workspace {name} moved from the {before.plan.title()} plan to {plan_name}."
    elif status == "cancelled":
        title, text = f"{name}'s subscription was cancelled", f"It stays on the {plan_name} plan until {_when(ends_at)}, then ends. You can resume it until then."
    elif status == "expired":
        title, text = f"{name}'s subscription ended", "Its period's credits are gone; extra credits you bought stay. Subscribe again to keep generating."
    elif status == "paused":
        title, text = f"{name}'s subscription is paused", "Generation is refused until it is resumed."
    elif status in ("active", "on_trial"):
        title, text = f"{name} is on the {plan_name} plan", f"Your workspace {name}'s {plan_name} subscription is active."
    else:
        return  # past_due and unpaid: the payment-failed notice tells
    notify_managers(conn, tenant_id, NoticeKind.SUBSCRIPTION, f"subscription:{subscription_id}:{status}:{plan}:{changed_at:%Y%m%d%H%M%S}",
                    title, text, PLAN_PAGE, "See your plan")
