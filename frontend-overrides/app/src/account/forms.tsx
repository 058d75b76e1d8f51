// The forms that send themselves: the pages a visitor reaches signed out, most of them from a link
// in an e-mail (sign up, accept an invitation, ask for a new password and choose it, verify an
// address), and the signed-in user's change of address. Those that end signed in store the token as
// InvokeAI's UI does and go to the studio.

import { type FormEvent, useEffect, useRef, useState } from "react";

import { ApiError, type Detail, type SignedIn, type SignupPending, api, signIn, token } from "../shared/api";
import { type ActionOutcome, RESEND_VERIFICATION, refusalFor, runAction } from "../shared/refusals";
import { Card, RefusalNotice } from "./components";

export const AUTH_PATHS = { forgot: "/account/forgot", reset: "/account/reset", verify: "/account/verify" } as const;

const UNREACHABLE = "The studio could not be reached; try again";

/** What a form's request ends in: signed in (to the studio), or a sentence to read (check your e-mail). */
type Outcome = { token: string } | { notice: string };

function useSubmit(send: () => Promise<Outcome>) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    setNotice(null);
    try {
      const done = await send();
      if ("token" in done) {
        signIn(done.token);
        window.location.assign("/");
        return;
      }
      setNotice(done.notice);
    } catch (e) {
      setError(e instanceof ApiError ? e : new ApiError(0, "network", UNREACHABLE));
    }
    setBusy(false);
  };
  return { busy, error, notice, submit };
}

function Failure({ error }: { error: ApiError | null }) {
  if (!error) return null;
  const refusal = refusalFor(error.code, error.detail, error.retryAfter);
  return refusal ? (
    <RefusalNotice refusal={refusal} onAction={(fix) => runAction(fix.href)} />
  ) : (
    <p className="error" role="alert" id="message">
      {error.detail}
    </p>
  );
}

function CheckMail({ notice }: { notice: string }) {
  return (
    <section className="auth-form" aria-label="Check your e-mail">
      <h1>Check your e-mail</h1>
      <p role="status">{notice}</p>
      <p className="hint">
        <a href="/login">Back to sign in</a>
      </p>
    </section>
  );
}

export function SignupForm({ productName }: { productName: string }) {
  const [workspace, setWorkspace] = useState("");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const { busy, error, notice, submit } = useSubmit(async () => {
    const answer = await api<SignedIn | SignupPending>("/api/v1/signup", { method: "POST", body: { workspace_name: workspace, email, password } });
    if ("token" in answer) return answer;
    // The address must be verified (202): a new account may already sign in and look around. An
    // address that had an account is told so by e-mail; signing in then fails like a wrong password.
    try {
      return await api<{ token: string }>("/api/v1/auth/login", { method: "POST", body: { email, password }, anonymous: true });
    } catch {
      return { notice: answer.detail };
    }
  });
  if (notice) return <CheckMail notice={notice} />;
  return (
    <form className="auth-form" onSubmit={submit}>
      <h1>Create your {productName} workspace</h1>
      <label>
        Workspace name
        <input value={workspace} onChange={(e) => setWorkspace(e.target.value)} required maxLength={200} />
      </label>
      <label>
        Email
        <input type="email" value={email} onChange={(e) => setEmail(e.target.value)} required autoComplete="email" />
      </label>
      <label>
        Password (8+ characters)
        <input type="password" value={password} onChange={(e) => setPassword(e.target.value)} required minLength={8} autoComplete="new-password" />
      </label>
      <button type="submit" disabled={busy}>
        {busy ? "Creating…" : "Create workspace"}
      </button>
      <Failure error={error} />
      <p className="hint">
        Already have an account? <a href="/login">Sign in</a>
      </p>
    </form>
  );
}

export function InviteForm({ token, productName }: { token: string; productName: string }) {
  const [name, setName] = useState("");
  const [password, setPassword] = useState("");
  const { busy, error, submit } = useSubmit(() =>
    api<SignedIn>("/api/v1/invitations/accept", { method: "POST", body: { token, password, display_name: name || null } }),
  );
  return (
    <form className="auth-form" onSubmit={submit}>
      <h1>Join a {productName} workspace</h1>
      <label>
        Your name
        <input value={name} onChange={(e) => setName(e.target.value)} maxLength={200} autoComplete="name" />
      </label>
      <label>
        Choose a password
        <input type="password" value={password} onChange={(e) => setPassword(e.target.value)} required minLength={8} autoComplete="new-password" />
      </label>
      <button type="submit" disabled={busy || !token}>
        {busy ? "Joining…" : "Join workspace"}
      </button>
      {!token && (
        <p className="error" role="alert">
          This link has no invitation in it; ask for a new one.
        </p>
      )}
      <Failure error={error} />
      <p className="hint">
        Already a member? <a href="/login">Sign in</a>
      </p>
    </form>
  );
}

/** Asks for a link to choose a new password; the answer is the same for every address. */
export function ForgotPasswordForm({ initialEmail = "" }: { initialEmail?: string }) {
  const [email, setEmail] = useState(initialEmail);
  const { busy, error, notice, submit } = useSubmit(async () => {
    const { detail } = await api<Detail>("/api/v1/auth/password-reset", { method: "POST", body: { email }, anonymous: true });
    return { notice: detail };
  });
  if (notice) return <CheckMail notice={notice} />;
  return (
    <form className="auth-form" onSubmit={submit}>
      <h1>Forgot your password?</h1>
      <p className="hint">Give the address you sign in with: we send it a link to choose a new password.</p>
      <label>
        Email
        <input type="email" value={email} onChange={(e) => setEmail(e.target.value)} required autoComplete="email" />
      </label>
      <button type="submit" disabled={busy}>
        {busy ? "Sending…" : "Send me a link"}
      </button>
      <Failure error={error} />
      <p className="hint">
        Remembered it? <a href="/login">Sign in</a>
      </p>
    </form>
  );
}

/** The page of a password-reset link: a new password, twice; signs in anew (older sessions end). */
export function ResetPasswordForm({ token }: { token: string }) {
  const [password, setPassword] = useState("");
  const [again, setAgain] = useState("");
  const { busy, error, submit } = useSubmit(() => {
    if (password !== again) throw new ApiError(422, "invalid_input", "The two passwords differ; type the same one twice.");
    return api<SignedIn>("/api/v1/auth/password-reset/confirm", { method: "POST", body: { token, password }, anonymous: true });
  });
  const expired = error?.status === 404 || !token;
  return (
    <form className="auth-form" onSubmit={submit}>
      <h1>Choose a new password</h1>
      <label>
        New password (8+ characters)
        <input type="password" value={password} onChange={(e) => setPassword(e.target.value)} required minLength={8} autoComplete="new-password" />
      </label>
      <label>
        The same password again
        <input type="password" value={again} onChange={(e) => setAgain(e.target.value)} required minLength={8} autoComplete="new-password" />
      </label>
      <button type="submit" disabled={busy || !token}>
        {busy ? "Saving…" : "Save and sign in"}
      </button>
      {expired ? (
        <p className="error" role="alert">
          {token ? "This link has expired or was already used." : "This link has no reset token in it."}{" "}
          <a href={AUTH_PATHS.forgot}>Ask for a new link</a>
        </p>
      ) : (
        <Failure error={error} />
      )}
      <p className="hint">
        <a href="/login">Back to sign in</a>
      </p>
    </form>
  );
}

type Verification =
  | { state: "checking" }
  | { state: "verified"; email: string; trialStarted: boolean }
  | { state: "failed"; detail: string };

/** The page of a verification link: verifies on load, once (React's strict mode runs effects twice). */
export function VerifyEmail({ token: link }: { token: string }) {
  const [result, setResult] = useState<Verification>({ state: "checking" });
  const [resent, setResent] = useState<ActionOutcome | null>(null);
  const sent = useRef(false);
  useEffect(() => {
    if (sent.current) return;
    sent.current = true;
    if (!link) {
      setResult({ state: "failed", detail: "This link has no verification token in it." });
      return;
    }
    const body = { token: link };
    api<{ email: string; verified: boolean; trial_started: boolean }>("/api/v1/auth/verify-email", { method: "POST", body, anonymous: true }).then(
      ({ email, trial_started }) => setResult({ state: "verified", email, trialStarted: trial_started }),
      (e) => setResult({ state: "failed", detail: e instanceof ApiError ? e.detail : UNREACHABLE }),
    );
  }, [link]);
  return (
    <section className="auth-form" aria-label="Verify your e-mail">
      <h1>Verify your e-mail</h1>
      {result.state === "checking" && <p role="status">Checking the link…</p>}
      {result.state === "verified" && (
        <>
          <p role="status">
            {result.trialStarted ? "Your address is verified; your trial credits are in your workspace." : "Your address is verified."}
          </p>
          <p className="hint">{result.email}</p>
          <a className="button" href="/">
            Go to the studio
          </a>
        </>
      )}
      {result.state === "failed" && (
        <>
          <p className="error" role="alert">
            {result.detail}
          </p>
          {token() ? (
            <>
              <button type="button" onClick={() => void runAction(RESEND_VERIFICATION).then(setResent)} disabled={resent?.ok}>
                Resend the link
              </button>
              {resent && <p className={resent.ok ? "hint" : "error"}>{resent.message}</p>}
            </>
          ) : (
            <p className="hint">
              <a href="/login">Sign in</a> to have a new link sent.
            </p>
          )}
        </>
      )}
    </section>
  );
}

/** The signed-in user's address and a form to change it: the current password proves it is them, and
 * the address changes only when the link sent to the new one is opened (the old one is told). */
export function EmailChangeForm({ email, verified }: { email: string; verified: boolean }) {
  const [address, setAddress] = useState("");
  const [password, setPassword] = useState("");
  const [resent, setResent] = useState<ActionOutcome | null>(null);
  const { busy, error, notice, submit } = useSubmit(async () => {
    const { detail } = await api<Detail>("/api/v1/account/email", { method: "POST", body: { email: address, password } });
    setAddress("");
    setPassword("");
    return { notice: detail };
  });
  return (
    <Card title="Your e-mail address">
      <dl className="facts">
        <dt>Address</dt>
        <dd data-testid="current-email">{email}</dd>
        <dt>Verified</dt>
        <dd>{verified ? "Yes" : "Not yet: open the link we sent to it"}</dd>
      </dl>
      {!verified && (
        <>
          <button type="button" onClick={() => void runAction(RESEND_VERIFICATION).then(setResent)} disabled={resent?.ok}>
            Resend the link
          </button>
          {resent && <p className={resent.ok ? "hint" : "error"}>{resent.message}</p>}
        </>
      )}
      <form className="inline-form" onSubmit={submit}>
        <label>
          New e-mail address
          <input type="email" value={address} onChange={(e) => setAddress(e.target.value)} required autoComplete="email" />
        </label>
        <label>
          Current password
          <input type="password" value={password} onChange={(e) => setPassword(e.target.value)} required autoComplete="current-password" />
        </label>
        <button type="submit" disabled={busy}>
          {busy ? "Sending…" : "Change address"}
        </button>
      </form>
      <p className="hint">We send a link to the new address; it becomes yours when you open it, and we tell the old one.</p>
      {notice && <p role="status">{notice}</p>}
      <Failure error={error} />
    </Card>
  );
}
