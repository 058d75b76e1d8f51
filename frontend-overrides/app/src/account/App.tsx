// The account area (/account/…) and the pages open to a visitor signed out: sign-up, invitation,
// forgotten password, password reset and address verification (/signup, /invite?token=…, /account/forgot,
// /account/reset?token=…, /account/verify?token=…).

import { type ReactNode, useCallback, useEffect, useState } from "react";

import {
  ApiError,
  type ApiKey,
  type CreatedApiKey,
  type CreatedInvitation,
  type Interval,
  type Invitation,
  type AccountInfo,
  type Me,
  type Member,
  type Notices,
  type Plan,
  type Receipt,
  type Role,
  type Tenant,
  type UsagePage,
  api,
  token,
} from "../shared/api";
import { brand } from "../shared/brand";
import { fillDays, formatCredits, planLabel } from "../shared/format";
import { ACCOUNT_PATHS, refusalFor, runAction } from "../shared/refusals";
import {
  ApiKeys,
  DailyTable,
  EntriesTable,
  ErrorLine,
  Members,
  NoticePrefs,
  PlanPicker,
  PlanSummary,
  ReceiptView,
  RefusalNotice,
  SubscriptionCard,
  UsageChart,
} from "./components";
import { AUTH_PATHS, EmailChangeForm, ForgotPasswordForm, InviteForm, ResetPasswordForm, SignupForm, VerifyEmail } from "./forms";

const TABS: { path: string; label: string }[] = [
  { path: ACCOUNT_PATHS.overview, label: "Overview" },
  { path: ACCOUNT_PATHS.usage, label: "Usage" },
  { path: ACCOUNT_PATHS.plan, label: "Plan & billing" },
  { path: ACCOUNT_PATHS.keys, label: "API keys" },
  { path: ACCOUNT_PATHS.members, label: "Members" },
  { path: ACCOUNT_PATHS.notices, label: "E-mail" },
];

/** The pages open signed out, each given the `token` (or `email`) of the link that opened it. */
function visitorPage(path: string, query: URLSearchParams, productName: string): ReactNode {
  const link = query.get("token") ?? "";
  switch (path) {
    case "/signup":
      return <SignupForm productName={productName} />;
    case "/invite":
      return <InviteForm token={link} productName={productName} />;
    case AUTH_PATHS.forgot:
      return <ForgotPasswordForm initialEmail={query.get("email") ?? ""} />;
    case AUTH_PATHS.reset:
      return <ResetPasswordForm token={link} />;
    case AUTH_PATHS.verify:
      return <VerifyEmail token={link} />;
    default:
      return null;
  }
}

export function App() {
  const path = window.location.pathname.replace(/\/+$/, "") || "/";
  const { name, logo } = brand();
  const visitor = visitorPage(path, new URLSearchParams(window.location.search), name);
  if (visitor) {
    return (
      <main className="auth-page">
        <img src={logo} alt={name} className="auth-logo" />
        {visitor}
      </main>
    );
  }
  if (!token()) {
    window.location.replace("/login");
    return null;
  }
  return <Account path={path} />;
}

/** A failed call: a refusal the user can act on, or the service's reason; a lost session signs in again. */
function describe(error: unknown): ReactNode {
  if (!(error instanceof ApiError)) return String(error);
  if (error.status === 401) {
    window.location.replace("/login");
    return null;
  }
  const refusal = refusalFor(error.code, error.detail, error.retryAfter);
  return refusal ? <RefusalNotice refusal={refusal} onAction={(fix) => runAction(fix.href)} /> : <ErrorLine error={error.detail} />;
}

function Account({ path }: { path: string }) {
  const { name, logo } = brand();
  const [tenant, setTenant] = useState<Tenant | null>(null);
  const [me, setMe] = useState<Me | null>(null);
  const [members, setMembers] = useState<Member[]>([]);
  const [failure, setFailure] = useState<ReactNode>(null);

  const reload = useCallback(async () => {
    try {
      const [t, m, ms] = await Promise.all([api<Tenant>("/api/v1/tenant"), api<Me>("/api/v1/auth/me"), api<Member[]>("/api/v1/tenant/members")]);
      setTenant(t);
      setMe(m);
      setMembers(ms);
    } catch (e) {
      setFailure(describe(e));
    }
  }, []);
  useEffect(() => {
    void reload();
  }, [reload]);

  const myRole: Role = members.find((m) => m.user_id === me?.user_id)?.role ?? "member";
  const page = TABS.find((t) => t.path === path) ?? TABS[0];
  return (
    <div className="account">
      <header className="topbar">
        <a href="/" className="brand">
          <img src={logo} alt="" />
          <span>{name}</span>
        </a>
        {tenant && (
          <span className="topbar-credits" data-testid="topbar-credits">
            {planLabel(tenant.plan)} · {formatCredits(tenant.credits)} credits
          </span>
        )}
        <a href="/" className="back">
          Back to the studio
        </a>
      </header>
      <nav className="tabs" aria-label="Account">
        {TABS.map((t) => (
          <a key={t.path} href={t.path} aria-current={t.path === page.path ? "page" : undefined}>
            {t.label}
          </a>
        ))}
      </nav>
      <main className="content">
        <h1>{page.label}</h1>
        {failure}
        {tenant && me && (
          <>
            {page.path === ACCOUNT_PATHS.overview && <Overview tenant={tenant} />}
            {page.path === ACCOUNT_PATHS.usage && <Usage />}
            {page.path === ACCOUNT_PATHS.plan && <Billing tenant={tenant} canManage={myRole !== "member"} />}
            {page.path === ACCOUNT_PATHS.keys && <Keys myUserId={me.user_id} canManage={myRole !== "member"} />}
            {page.path === ACCOUNT_PATHS.members && <Team members={members} myRole={myRole} me={me} reload={reload} />}
            {page.path === ACCOUNT_PATHS.notices && <EmailSettings />}
          </>
        )}
      </main>
    </div>
  );
}

function Overview({ tenant }: { tenant: Tenant }) {
  const [usage, setUsage] = useState<UsagePage | null>(null);
  useEffect(() => {
    api<UsagePage>("/api/v1/billing/usage?days=30&limit=1").then(setUsage, () => setUsage(null));
  }, []);
  return (
    <>
      <PlanSummary tenant={tenant} />
      {usage && <UsageChart days={fillDays(usage.days, 30, new Date())} />}
      <p>
        <a href={ACCOUNT_PATHS.usage}>See every charge and its receipt</a>
      </p>
    </>
  );
}

function Usage() {
  const [page, setPage] = useState<UsagePage | null>(null);
  const [older, setOlder] = useState<UsagePage["entries"]>([]);
  const [next, setNext] = useState<number | null>(null);
  const [receipt, setReceipt] = useState<Receipt | null>(null);
  const [failure, setFailure] = useState<ReactNode>(null);
  useEffect(() => {
    api<UsagePage>("/api/v1/billing/usage?days=30&limit=50").then(
      (p) => {
        setPage(p);
        setNext(p.next_before);
      },
      (e) => setFailure(describe(e)),
    );
  }, []);
  const more = async () => {
    if (next === null) return;
    const p = await api<UsagePage>(`/api/v1/billing/usage?days=1&limit=50&before=${next}`);
    setOlder((o) => [...o, ...p.entries]);
    setNext(p.next_before);
  };
  const openReceipt = (itemId: number) => {
    api<Receipt>(`/api/v1/billing/usage/items/${itemId}`).then(setReceipt, (e) => setFailure(describe(e)));
  };
  if (!page) return <>{failure}</>;
  return (
    <>
      {failure}
      {receipt && <ReceiptView receipt={receipt} onClose={() => setReceipt(null)} />}
      <UsageChart days={fillDays(page.days, 30, new Date())} />
      <h2>Per day</h2>
      <DailyTable days={page.days} />
      <h2>Every movement</h2>
      <EntriesTable entries={[...page.entries, ...older]} onReceipt={openReceipt} />
      {next !== null && (
        <button type="button" onClick={() => void more()}>
          Older entries
        </button>
      )}
    </>
  );
}

function Billing({ tenant, canManage }: { tenant: Tenant; canManage: boolean }) {
  const subscribed = tenant.subscription !== null && tenant.subscription.status !== "expired";
  const [plans, setPlans] = useState<Plan[]>([]);
  const [failure, setFailure] = useState<ReactNode>(null);
  const [note, setNote] = useState<string | null>(null);
  useEffect(() => {
    api<Plan[]>("/api/v1/billing/plans").then(setPlans, (e) => setFailure(describe(e)));
  }, []);
  const go = async (call: () => Promise<void>) => {
    setFailure(null);
    try {
      await call();
    } catch (e) {
      setFailure(describe(e));
    }
  };
  const choose = (plan: string, interval: Interval) =>
    go(async () => {
      if (subscribed) {
        await api("/api/v1/billing/subscription/plan", { method: "POST", body: { plan, interval } });
        setNote(`Asked to move to ${planLabel(plan)}, billed ${interval === "year" ? "yearly" : "monthly"}: the plan changes as soon as the payment provider confirms it.`);
      } else {
        const { url } = await api<{ url: string }>("/api/v1/billing/checkout", { method: "POST", body: { plan, interval } });
        window.location.assign(url);
      }
    });
  const cancel = () =>
    go(async () => {
      await api("/api/v1/billing/subscription", { method: "DELETE" });
      setNote("Asked to cancel: the plan stays until the end of the period, once the payment provider confirms it.");
    });
  const resume = () =>
    go(async () => {
      await api("/api/v1/billing/subscription/resume", { method: "POST" });
      setNote("Asked to resume the subscription: it renews again once the payment provider confirms it.");
    });
  const portal = () =>
    go(async () => {
      const { url } = await api<{ url: string }>("/api/v1/billing/portal");
      window.location.assign(url);
    });
  return (
    <>
      {failure}
      {note && <p role="status">{note}</p>}
      <PlanSummary tenant={tenant} />
      {tenant.subscription && tenant.subscription.status !== "expired" && (
        <SubscriptionCard subscription={tenant.subscription} canManage={canManage} onCancel={() => void cancel()} onResume={() => void resume()} />
      )}
      <PlanPicker
        plans={plans}
        current={tenant.plan}
        currentInterval={subscribed ? (tenant.subscription?.interval as Interval) : null}
        subscribed={subscribed}
        canManage={canManage}
        onChoose={(p, i) => void choose(p, i)}
        onPortal={() => void portal()}
      />
    </>
  );
}

function Keys({ myUserId, canManage }: { myUserId: string; canManage: boolean }) {
  const [keys, setKeys] = useState<ApiKey[]>([]);
  const [created, setCreated] = useState<CreatedApiKey | null>(null);
  const [failure, setFailure] = useState<ReactNode>(null);
  const load = useCallback(() => api<ApiKey[]>("/api/v1/tenant/api-keys").then(setKeys, (e) => setFailure(describe(e))), []);
  useEffect(() => {
    void load();
  }, [load]);
  const act = (call: () => Promise<unknown>) => {
    setFailure(null);
    call().then(load, (e) => setFailure(describe(e)));
  };
  return (
    <>
      {failure}
      <ApiKeys
        keys={keys}
        created={created}
        myUserId={myUserId}
        canManage={canManage}
        onCreate={(name) => act(async () => setCreated(await api<CreatedApiKey>("/api/v1/tenant/api-keys", { method: "POST", body: { name } })))}
        onRevoke={(id) =>
          act(async () => {
            await api(`/api/v1/tenant/api-keys/${id}`, { method: "DELETE" });
            setCreated(null);
          })
        }
      />
    </>
  );
}

function Team({ members, myRole, me, reload }: { members: Member[]; myRole: Role; me: Me; reload: () => Promise<void> }) {
  const [invitations, setInvitations] = useState<Invitation[]>([]);
  const [link, setLink] = useState<string | null>(null);
  const [failure, setFailure] = useState<ReactNode>(null);
  const manager = myRole !== "member";
  const loadInvitations = useCallback(async () => {
    if (manager) setInvitations(await api<Invitation[]>("/api/v1/tenant/invitations"));
  }, [manager]);
  useEffect(() => {
    loadInvitations().catch((e) => setFailure(describe(e)));
  }, [loadInvitations]);
  const act = (call: () => Promise<unknown>) => {
    setFailure(null);
    call()
      .then(() => Promise.all([reload(), loadInvitations()]))
      .catch((e) => setFailure(describe(e)));
  };
  return (
    <>
      {failure}
      <Members
        members={members}
        invitations={invitations}
        myRole={myRole}
        myUserId={me.user_id}
        inviteLink={link}
        onInvite={(email, role) =>
          act(async () => {
            const made = await api<CreatedInvitation>("/api/v1/tenant/invitations", { method: "POST", body: { email, role } });
            setLink(new URL(made.url, window.location.origin).toString());
          })
        }
        onRevokeInvitation={(id) => act(() => api(`/api/v1/tenant/invitations/${id}`, { method: "DELETE" }))}
        onRoleChange={(userId, role) => act(() => api(`/api/v1/tenant/members/${userId}`, { method: "PATCH", body: { role } }))}
        onRemove={(userId) => act(() => api(`/api/v1/tenant/members/${userId}`, { method: "DELETE" }))}
      />
    </>
  );
}

/** The user's address (and changing it) and the e-mails they get; at /account/notices, where e-mails link. */
function EmailSettings() {
  const [account, setAccount] = useState<AccountInfo | null>(null);
  const [saving, setSaving] = useState(false);
  const [note, setNote] = useState<string | null>(null);
  const [failure, setFailure] = useState<ReactNode>(null);
  useEffect(() => {
    api<AccountInfo>("/api/v1/account").then(setAccount, (e) => setFailure(describe(e)));
  }, []);
  const change = async (notice: keyof Notices, on: boolean) => {
    setSaving(true);
    setFailure(null);
    setNote(null);
    try {
      const notices = await api<Notices>("/api/v1/account/notices", { method: "PATCH", body: { [notice]: on } });
      setAccount((a) => a && { ...a, notices });
      setNote("Saved.");
    } catch (e) {
      setFailure(describe(e));
    }
    setSaving(false);
  };
  if (!account) return <>{failure}</>;
  return (
    <>
      {failure}
      <EmailChangeForm email={account.email} verified={account.email_verified} />
      <NoticePrefs email={account.email} notices={account.notices} saving={saving} onChange={(n, on) => void change(n, on)} />
      {note && <p role="status">{note}</p>}
    </>
  );
}
