// Signing up and accepting an invitation: both sign the new user in and take them to the studio.

import { type FormEvent, useState } from "react";

import { ApiError, api, type SignedIn, signIn } from "../shared/api";
import { refusalFor } from "../shared/refusals";
import { RefusalNotice } from "./components";

function useSubmit(send: () => Promise<SignedIn>) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const done = await send();
      signIn(done.token);
      window.location.assign("/");
    } catch (e) {
      setError(e instanceof ApiError ? e : new ApiError(0, "network", "The studio could not be reached; try again"));
      setBusy(false);
    }
  };
  return { busy, error, submit };
}

function Failure({ error }: { error: ApiError | null }) {
  if (!error) return null;
  const refusal = refusalFor(error.code, error.detail, error.retryAfter);
  return refusal ? (
    <RefusalNotice refusal={refusal} />
  ) : (
    <p className="error" role="alert" id="message">
      {error.detail}
    </p>
  );
}

export function SignupForm({ productName }: { productName: string }) {
  const [workspace, setWorkspace] = useState("");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const { busy, error, submit } = useSubmit(() =>
    api<SignedIn>("/api/v1/signup", { method: "POST", body: { workspace_name: workspace, email, password } }),
  );
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
