"""`scripts/ses_smtp_url.py` turns an IAM access key into a PINGVAS_SMTP_URL that SES accepts and the app
reads back as the same credentials.

The password derivation was checked against the aws provider's own examples of
`aws_iam_access_key.ses_smtp_password_v4` (eu-central-1 and us-west-1); the pinned values below come
from that implementation, so a change of its chain, region or version byte fails here.
"""

import io
import json

import pytest

from invokeai_saas.mail.transport import SmtpTransport
from scripts import ses_smtp_url

SECRET = "pingvas-example-secret-0000000000000000"  # not a real key: 40 characters like one
KEY_ID = "AKIDPINGVASEXAMPLE00"


@pytest.mark.parametrize(
    ("region", "password"),
    [
        ("eu-central-1", "BHP63XafkmEaEiOWfetMLW8JsJ6zf1aJ7RTdMDp0qSNU"),
        ("us-east-1", "BD70Yb1Nr4W4ffW/izo+ZnSTn3zEsf14bNJSReaKZ8Od"),
    ],
)
def test_the_smtp_password_is_ses_version_4_for_the_region(region: str, password: str) -> None:
    assert ses_smtp_url.smtp_password(SECRET, region) == password


def test_the_app_reads_back_the_key_id_and_a_password_holding_slash_and_plus() -> None:
    url = ses_smtp_url.smtp_url(KEY_ID, SECRET, "us-east-1")
    transport = SmtpTransport(url)
    assert transport.host == "email-smtp.us-east-1.amazonaws.com" and transport.port == 465
    assert transport.implicit_tls  # smtps://: TLS from the first byte, as SES's port 465 expects
    assert transport.username == KEY_ID
    assert transport.password == ses_smtp_url.smtp_password(SECRET, "us-east-1")
    assert "/" in transport.password and "+" in transport.password  # both had to be URL-encoded


def test_it_reads_the_answer_of_aws_iam_create_access_key(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    answer = {"AccessKey": {"UserName": "pingvas-dev-ses-smtp", "AccessKeyId": KEY_ID, "SecretAccessKey": SECRET, "Status": "Active"}}
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(answer)))
    ses_smtp_url.main(["--region", "eu-central-1"])
    assert capsys.readouterr().out == ses_smtp_url.smtp_url(KEY_ID, SECRET, "eu-central-1") + "\n"
