// The account area's building blocks: plain props in, no fetching (App.tsx loads the data), so each
// renders the same in the app, in Storybook and in component tests.

import { type FormEvent, type ReactNode, useState } from "react";

import type {
  ApiKey,
  CreatedApiKey,
  DayTotal,
  Entry,
  Interval,
  Invitation,
  Member,
  Notices,
  Plan,
  Receipt,
  Role,
  Subscription,
  Tenant,
} from "../shared/api";
import { brand } from "../shared/brand";
import { ACCOUNT_PATHS, type ActionOutcome, type Fix, type Refusal } from "../shared/refusals";
import { KIND_LABELS, formatBytes, formatCredits, formatDate, planLabel } from "../shared/format";

export function Card({ title, children, actions }: { title: string; children: ReactNode; actions?: ReactNode }) {
  return (
    <section className="card" aria-label={title}>
      <header className="card-header">
        <h2>{title}</h2>
        {actions}
      </header>
      {children}
    </section>
  );
}

/** A refusal and its fix: a link, or an action (a button; `onAction` runs it and says what happened). */
export function RefusalNotice({ refusal, onAction }: { refusal: Refusal; onAction: (fix: Fix) => Promise<ActionOutcome> }) {
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<ActionOutcome | null>(null);
  const { fix } = refusal;
  const act = async (action: Fix) => {
    setBusy(true);
    setOutcome(await onAction(action));
    setBusy(false);
  };
  return (
    <div className="refusal" role="alert">
      <strong>{refusal.title}</strong>
      <p>{refusal.message}</p>
      {fix && fix.method !== "POST" && <a href={fix.href}>{fix.label}</a>}
      {fix?.method === "POST" && !outcome?.ok && (
        <button type="button" onClick={() => void act(fix)} disabled={busy}>
          {fix.label}
        </button>
      )}
      {outcome && <p role="status">{outcome.message}</p>}
    </div>
  );
}

export function ErrorLine({ error }: { error: string | null }) {
  return error ? (
    <p className="error" role="alert">
      {error}
    </p>
  ) : null;
}

export function StorageMeter({ used, limit }: { used: number; limit: number | null }) {
  if (limit === null) return <p>{formatBytes(used)} used (no quota)</p>;
  const share = limit > 0 ? Math.min(1, used / limit) : 1;
  return (
    <div className="meter-block">
      <div
        className={share >= 0.9 ? "meter meter-full" : "meter"}
        role="meter"
        aria-label="Storage used"
        aria-valuemin={0}
        aria-valuemax={limit}
        aria-valuenow={used}
      >
        <div className="meter-fill" style={{ width: `${share * 100}%` }} />
      </div>
      <p>
        {formatBytes(used)} of {formatBytes(limit)} used ({Math.round(share * 100)}%)
      </p>
    </div>
  );
}

export function PlanSummary({ tenant, now = new Date() }: { tenant: Tenant; now?: Date }) {
  const hold = tenant.billing_hold_at;
  const held = hold !== null && new Date(hold) <= now; // from then on generation is refused
  return (
    <Card title="Plan and credits">
      <dl className="facts">
        <dt>Workspace</dt>
        <dd>{tenant.name}</dd>
        <dt>Plan</dt>
        <dd data-testid="plan">{planLabel(tenant.plan)}</dd>
        <dt>Credits</dt>
        <dd data-testid="credits" className={tenant.credits <= 0 ? "negative" : undefined}>
          {formatCredits(tenant.credits)}
        </dd>
        {tenant.trial_ends_at && (
          <>
            <dt>Trial ends</dt>
            <dd>{formatDate(tenant.trial_ends_at)}</dd>
          </>
        )}
        <dt>Members</dt>
        <dd>{tenant.member_count}</dd>
        <dt>Jobs at once</dt>
        <dd>{tenant.concurrent_queues ?? "Unlimited"}</dd>
      </dl>
      {hold && (
        <p className="warning" role="alert">
          {held
            ? `Generation is on hold since ${formatDate(hold)}: a payment failed or the subscription is paused. `
            : `A payment failed: generation stops on ${formatDate(hold)}. `}
          <a href={ACCOUNT_PATHS.plan}>Update your payment method</a> {held ? "to generate again." : "to keep generating."}
        </p>
      )}
      {tenant.status !== "active" && (
        <p className="warning" role="alert">
          This workspace is {tenant.status}.
        </p>
      )}
      <h3>Storage</h3>
      <StorageMeter used={tenant.storage_bytes} limit={tenant.storage_limit_bytes} />
    </Card>
  );
}

/** Credits spent per day as bars (an SVG: no chart library for one series). */
export function UsageChart({ days }: { days: DayTotal[] }) {
  const width = 640;
  const height = 160;
  const most = Math.max(1, ...days.map((d) => d.spent));
  const slot = days.length ? width / days.length : width;
  return (
    <figure className="chart">
      <svg viewBox={`0 0 ${width} ${height + 20}`} role="img" aria-label="Credits spent per day">
        {days.map((d, i) => {
          const h = (d.spent / most) * height;
          return (
            <g key={d.day}>
              <rect x={i * slot + 2} y={height - h} width={Math.max(1, slot - 4)} height={h} className="bar">
                <title>{`${d.day}: ${d.spent} credits spent`}</title>
              </rect>
              {(days.length <= 14 || i % 5 === 0) && (
                <text x={i * slot + slot / 2} y={height + 14} textAnchor="middle" className="axis">
                  {d.day.slice(5)}
                </text>
              )}
            </g>
          );
        })}
      </svg>
      <figcaption>Credits spent per day (UTC), most {most}</figcaption>
    </figure>
  );
}

export function DailyTable({ days }: { days: DayTotal[] }) {
  const shown = days.filter((d) => d.spent || d.added).reverse();
  return (
    <table aria-label="Usage per day">
      <thead>
        <tr>
          <th>Day</th>
          <th>Spent</th>
          <th>Added</th>
        </tr>
      </thead>
      <tbody>
        {shown.length === 0 && (
          <tr>
            <td colSpan={3}>Nothing yet.</td>
          </tr>
        )}
        {shown.map((d) => (
          <tr key={d.day}>
            <td>{d.day}</td>
            <td>{formatCredits(d.spent)}</td>
            <td>{formatCredits(d.added)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function EntriesTable({ entries, onReceipt }: { entries: Entry[]; onReceipt?: (itemId: number) => void }) {
  return (
    <table aria-label="Ledger entries">
      <thead>
        <tr>
          <th>When</th>
          <th>What</th>
          <th>Credits</th>
          <th>Balance</th>
          <th />
        </tr>
      </thead>
      <tbody>
        {entries.map((e) => (
          <tr key={e.entry_id}>
            <td>{formatDate(e.created_at)}</td>
            <td title={e.reason ?? undefined}>
              {KIND_LABELS[e.kind] ?? e.kind}
              {e.item_id !== null && ` · item ${e.item_id}`}
            </td>
            <td className={e.amount < 0 ? "negative" : "positive"}>{e.amount > 0 ? `+${e.amount}` : e.amount}</td>
            <td>{formatCredits(e.balance_after)}</td>
            <td>
              {e.item_id !== null && onReceipt && (
                <button type="button" className="link" onClick={() => onReceipt(e.item_id as number)}>
                  Receipt
                </button>
              )}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function ReceiptView({ receipt, onClose }: { receipt: Receipt; onClose?: () => void }) {
  return (
    <Card
      title={`Receipt for queue item ${receipt.item_id}`}
      actions={
        onClose && (
          <button type="button" className="link" onClick={onClose}>
            Close
          </button>
        )
      }
    >
      <p data-testid="receipt-total">
        <strong>{formatCredits(receipt.credits_charged)} credits</strong> charged · item {receipt.status}
      </p>
      <p>{receipt.explanation}</p>
      <ul className="receipt-lines">
        {receipt.entries.map((e) => (
          <li key={e.entry_id}>
            {e.reason ?? KIND_LABELS[e.kind]} — {e.amount} credits
          </li>
        ))}
      </ul>
    </Card>
  );
}

/** With a live subscription the owner switches plans (and has a billing portal); without one (a trial, or
 * after it expired) every priced plan, the current one included, is bought through a checkout. Plans are
 * sold by the month or the year as the server's store sells them (`intervals`). */
export function PlanPicker({
  plans,
  current,
  currentInterval = null,
  subscribed,
  canManage,
  onChoose,
  onPortal,
}: {
  plans: Plan[];
  current: string;
  currentInterval?: Interval | null;
  subscribed: boolean;
  canManage: boolean;
  onChoose: (plan: string, interval: Interval) => void;
  onPortal: () => void;
}) {
  const [interval, setInterval] = useState<Interval>(currentInterval ?? "month");
  const yearly = plans.some((p) => p.intervals.includes("year"));
  const onSale = plans.some((p) => p.intervals.length > 0);
  const isCurrent = (p: Plan) => p.name === current && (p.price_usd_month === null || (subscribed && (currentInterval ?? "month") === interval));
  return (
    <Card
      title="Plans"
      actions={
        canManage &&
        subscribed && (
          <button type="button" onClick={onPortal}>
            Billing portal
          </button>
        )
      }
    >
      {yearly && (
        <div className="interval" role="radiogroup" aria-label="Billing period">
          {(["month", "year"] as const).map((i) => (
            <label key={i}>
              <input type="radio" name="interval" checked={interval === i} onChange={() => setInterval(i)} />
              {i === "month" ? "Monthly" : "Yearly"}
            </label>
          ))}
        </div>
      )}
      <div className="plans">
        {plans.map((p) => (
          <article key={p.name} className={p.name === current ? "plan plan-current" : "plan"} aria-label={`${planLabel(p.name)} plan`}>
            <h3>{planLabel(p.name)}</h3>
            <p className="price">{p.price_usd_month === null ? "Talk to us" : `$${p.price_usd_month}/month`}</p>
            <ul>
              <li>{p.credits_per_period === null ? "Credits per contract" : `${formatCredits(p.credits_per_period)} credits a month`}</li>
              <li>{p.storage_gb === null ? "Storage per contract" : `${p.storage_gb} GB storage`}</li>
              <li>{p.concurrent_queues === null ? "Unlimited jobs at once" : `${p.concurrent_queues} job${p.concurrent_queues > 1 ? "s" : ""} at once`}</li>
              {p.features.includes("flux_models") && <li>FLUX models</li>}
              {p.features.includes("nano_banana") && <li>nano-banana (Gemini)</li>}
            </ul>
            {isCurrent(p) ? (
              <p className="badge">Current plan</p>
            ) : p.price_usd_month === null ? (
              <a href={`mailto:${brand().support_email}`}>Contact sales</a>
            ) : !p.intervals.includes(interval) ? (
              onSale && <p className="hint">Not sold {interval === "year" ? "yearly" : "monthly"}</p>
            ) : (
              canManage && (
                <button type="button" onClick={() => onChoose(p.name, interval)}>
                  {subscribed ? "Switch to" : "Subscribe to"} {planLabel(p.name)}
                  {interval === "year" ? " yearly" : ""}
                </button>
              )
            )}
          </article>
        ))}
      </div>
      {!onSale && <p className="hint">Plans are not on sale on this server (no payment provider, or no plan offered through it).</p>}
      {!canManage && <p className="hint">Only the workspace's owners and admins change its plan.</p>}
    </Card>
  );
}

const CANCELLABLE = new Set(["active", "on_trial", "past_due", "unpaid"]);

/** The workspace's subscription; owners and admins cancel it (it runs to the end of the period) or resume
 * a cancelled one. Both take effect when the payment provider confirms them. */
export function SubscriptionCard({
  subscription,
  canManage,
  onCancel,
  onResume,
}: {
  subscription: Subscription;
  canManage: boolean;
  onCancel: () => void;
  onResume: () => void;
}) {
  const [confirming, setConfirming] = useState(false);
  const until = subscription.ends_at ?? subscription.renews_at;
  return (
    <Card title="Subscription">
      <dl className="facts">
        <dt>Plan</dt>
        <dd>
          {planLabel(subscription.plan)}, billed {subscription.interval === "year" ? "yearly" : "monthly"}
        </dd>
        <dt>Status</dt>
        <dd data-testid="subscription-status">{subscription.status.replace("_", " ")}</dd>
        {subscription.renews_at && (
          <>
            <dt>Renews</dt>
            <dd>{formatDate(subscription.renews_at)}</dd>
          </>
        )}
        {subscription.ends_at && (
          <>
            <dt>Ends</dt>
            <dd>{formatDate(subscription.ends_at)}</dd>
          </>
        )}
      </dl>
      {canManage && subscription.status === "cancelled" && (
        <button type="button" onClick={onResume}>
          Resume subscription
        </button>
      )}
      {canManage && CANCELLABLE.has(subscription.status) && !confirming && (
        <button type="button" className="danger" onClick={() => setConfirming(true)}>
          Cancel subscription
        </button>
      )}
      {confirming && (
        <div role="alertdialog" aria-label="Cancel the subscription?">
          <p>{until ? `The plan stays until ${formatDate(until)}; then the subscription ends.` : "The subscription ends at the end of the period."}</p>
          <button
            type="button"
            className="danger"
            onClick={() => {
              setConfirming(false);
              onCancel();
            }}
          >
            Yes, cancel
          </button>
          <button type="button" onClick={() => setConfirming(false)}>
            Keep it
          </button>
        </div>
      )}
    </Card>
  );
}

/** Every live key of the workspace; its creator, or an owner or admin, may revoke it. */
export function ApiKeys({
  keys,
  created,
  myUserId,
  canManage,
  onCreate,
  onRevoke,
}: {
  keys: ApiKey[];
  created: CreatedApiKey | null;
  myUserId: string;
  canManage: boolean;
  onCreate: (name: string) => void;
  onRevoke: (id: string) => void;
}) {
  const [name, setName] = useState("");
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (name.trim()) onCreate(name.trim());
    setName("");
  };
  const live = keys.filter((k) => !k.revoked_at);
  return (
    <Card title="API keys">
      <p className="hint">An API key generates, reads the gallery, boards and workflows for this workspace. It cannot manage members or keys.</p>
      {created && (
        <div className="secret" role="status">
          <p>
            Copy the key <strong>{created.name}</strong> now: it is shown only once.
          </p>
          <code data-testid="api-key-secret">{created.secret}</code>
        </div>
      )}
      <form onSubmit={submit} className="inline-form">
        <label>
          Key name
          <input value={name} onChange={(e) => setName(e.target.value)} maxLength={200} required />
        </label>
        <button type="submit">Create key</button>
      </form>
      <table aria-label="API keys">
        <thead>
          <tr>
            <th>Name</th>
            <th>Key</th>
            <th>Created</th>
            <th>Last used</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {live.length === 0 && (
            <tr>
              <td colSpan={5}>No keys.</td>
            </tr>
          )}
          {live.map((k) => (
            <tr key={k.api_key_id}>
              <td>{k.name}</td>
              <td>
                <code>{k.prefix}…</code>
              </td>
              <td>{formatDate(k.created_at)}</td>
              <td>{k.last_used_at ? formatDate(k.last_used_at) : "Never"}</td>
              <td>
                {(canManage || k.user_id === myUserId) && (
                  <button type="button" className="danger" onClick={() => onRevoke(k.api_key_id)} aria-label={`Revoke ${k.name}`}>
                    Revoke
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </Card>
  );
}

const ROLES: Role[] = ["member", "admin", "owner"];

export function Members({
  members,
  invitations,
  myRole,
  myUserId,
  inviteLink,
  onInvite,
  onRevokeInvitation,
  onRoleChange,
  onRemove,
}: {
  members: Member[];
  invitations: Invitation[];
  myRole: Role;
  myUserId: string;
  inviteLink: string | null;
  onInvite: (email: string, role: Role) => void;
  onRevokeInvitation: (id: string) => void;
  onRoleChange: (userId: string, role: Role) => void;
  onRemove: (userId: string) => void;
}) {
  const manager = myRole === "owner" || myRole === "admin";
  const [email, setEmail] = useState("");
  const [role, setRole] = useState<Role>("member");
  const grantable = ROLES.filter((r) => myRole === "owner" || r !== "owner");
  const submit = (event: FormEvent) => {
    event.preventDefault();
    onInvite(email.trim(), role);
    setEmail("");
  };
  return (
    <>
      <Card title="Members">
        <table aria-label="Members">
          <thead>
            <tr>
              <th>Member</th>
              <th>Role</th>
              <th>Joined</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {members.map((m) => (
              <tr key={m.user_id}>
                <td>
                  {m.display_name ? `${m.display_name} · ` : ""}
                  {m.email}
                  {m.user_id === myUserId && " (you)"}
                </td>
                <td>
                  {manager && m.user_id !== myUserId && (myRole === "owner" || m.role !== "owner") ? (
                    <select aria-label={`Role of ${m.email}`} value={m.role} onChange={(e) => onRoleChange(m.user_id, e.target.value as Role)}>
                      {grantable.map((r) => (
                        <option key={r}>{r}</option>
                      ))}
                    </select>
                  ) : (
                    m.role
                  )}
                </td>
                <td>{formatDate(m.created_at)}</td>
                <td>
                  {manager && m.user_id !== myUserId && (myRole === "owner" || m.role !== "owner") && (
                    <button type="button" className="danger" onClick={() => onRemove(m.user_id)} aria-label={`Remove ${m.email}`}>
                      Remove
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </Card>
      {manager && (
        <Card title="Invitations">
          <form onSubmit={submit} className="inline-form">
            <label>
              Email
              <input type="email" value={email} onChange={(e) => setEmail(e.target.value)} required />
            </label>
            <label>
              Role
              <select value={role} onChange={(e) => setRole(e.target.value as Role)}>
                {grantable.map((r) => (
                  <option key={r}>{r}</option>
                ))}
              </select>
            </label>
            <button type="submit">Invite</button>
          </form>
          {inviteLink && (
            <div className="secret" role="status">
              <p>Send this link to the person you invited (it works once):</p>
              <code data-testid="invite-link">{inviteLink}</code>
            </div>
          )}
          <table aria-label="Pending invitations">
            <thead>
              <tr>
                <th>Email</th>
                <th>Role</th>
                <th>Expires</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {invitations.length === 0 && (
                <tr>
                  <td colSpan={4}>No pending invitations.</td>
                </tr>
              )}
              {invitations.map((i) => (
                <tr key={i.invitation_id}>
                  <td>{i.email}</td>
                  <td>{i.role}</td>
                  <td>{formatDate(i.expires_at)}</td>
                  <td>
                    <button type="button" className="danger" onClick={() => onRevokeInvitation(i.invitation_id)} aria-label={`Revoke invitation for ${i.email}`}>
                      Revoke
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </Card>
      )}
    </>
  );
}

const NOTICE_LABELS: Record<keyof Notices, string> = {
  low_credits: "Credits running low",
  payment_failed: "A payment failed",
  subscription: "Subscription renewed, changed or ending",
  suspension: "Workspace suspended or restored",
};

/** The e-mails a user may turn off, each saved as it is switched (`saving` while a change is on its way). */
export function NoticePrefs({
  email,
  notices,
  saving,
  onChange,
}: {
  email: string;
  notices: Notices;
  saving: boolean;
  onChange: (notice: keyof Notices, on: boolean) => void;
}) {
  return (
    <Card title="E-mail notices">
      <p className="hint">Sent to {email}.</p>
      <div className="toggles">
        {(Object.keys(NOTICE_LABELS) as (keyof Notices)[]).map((key) => (
          <label key={key} className="toggle">
            <input type="checkbox" role="switch" checked={notices[key]} disabled={saving} onChange={(e) => onChange(key, e.target.checked)} />
            {NOTICE_LABELS[key]}
          </label>
        ))}
      </div>
      <p className="hint">Security notices (your password or e-mail address changed) are always sent.</p>
    </Card>
  );
}
