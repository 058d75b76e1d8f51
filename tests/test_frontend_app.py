"""The account app and studio script (frontend-overrides/app): built assets match their sources,
component tests pass, Storybook builds.

The built files are committed (frontend-overrides/app/dist/) so that `make run` and the Python
package need no Node.js; this rebuilds them from the sources and the lock file and fails on any
difference, so a source change without its rebuild cannot land. `make test` installs the app's
packages with `npm ci` first (node_modules/ is not committed).
"""

import filecmp
import json
import shutil
import subprocess
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parent.parent / "frontend-overrides" / "app"
NPM_TIMEOUT_S = 600  # a cold build on a busy 2-core machine


def npm(*args: str) -> subprocess.CompletedProcess[str]:
    if not (APP / "node_modules" / ".package-lock.json").is_file():
        pytest.fail("frontend-overrides/app/node_modules is missing: run `make frontend` (npm ci)", pytrace=False)
    done = subprocess.run(["npm", *args], cwd=APP, capture_output=True, text=True, timeout=NPM_TIMEOUT_S)
    assert done.returncode == 0, f"npm {' '.join(args)} failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done


def differences(left: Path, right: Path) -> list[str]:
    compared = filecmp.dircmp(left, right)
    found = [f"only in {left.name}: {n}" for n in compared.left_only] + [f"only in the rebuild: {n}" for n in compared.right_only]
    found += [f"differs: {n}" for n in compared.diff_files if not filecmp.cmp(left / n, right / n, shallow=False)]
    for sub in compared.common_dirs:
        found += [f"{sub}/{d}" for d in differences(left / sub, right / sub)]
    return found


def test_the_committed_build_is_what_the_sources_build_to(tmp_path: Path) -> None:
    rebuilt = tmp_path / "dist"
    npm("run", "build", "--", "--outDir", str(rebuilt), "--emptyOutDir")  # type-checks, then builds
    drift = differences(APP / "dist", rebuilt)
    assert not drift, "frontend-overrides/app/dist is stale; run `npm run build` there and commit it:\n" + "\n".join(drift)


def test_the_component_tests_pass() -> None:
    done = npm("exec", "--", "vitest", "run", "--reporter=dot")
    assert " passed" in done.stdout and " failed" not in done.stdout, done.stdout[-2000:]


def test_storybook_builds_a_story_for_each_account_component(tmp_path: Path) -> None:
    out = tmp_path / "storybook"
    npm("run", "build-storybook", "--", "-o", str(out))
    stories = json.loads((out / "index.json").read_text())["entries"]
    titles = {entry["title"].split("/")[-1] for entry in stories.values()}
    expected = {"ApiKeys", "Members", "PlanPicker", "PlanSummary", "UsageChart", "EntriesTable", "ReceiptView", "RefusalNotice", "SignupForm", "InviteForm", "StorageMeter",
                "ForgotPasswordForm", "ResetPasswordForm", "VerifyEmail", "NoticePrefs", "EmailChangeForm"}
    assert expected <= titles, sorted(titles)
    shutil.rmtree(out)
