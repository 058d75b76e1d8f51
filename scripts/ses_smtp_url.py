"""PINGVAS_SMTP_URL for Amazon SES from an IAM access key, so the key's secret never passes through Terraform.

SES's SMTP endpoint does not take the secret access key itself but a password derived from it for one
region (AWS's "SigV4 SMTP password": an HMAC-SHA256 chain over fixed strings, prefixed with the version
byte 4). Reads the JSON of `aws iam create-access-key` on stdin and prints
`smtps://<access key id>:<password>@email-smtp.<region>.amazonaws.com:465`, the password URL-encoded
(it may hold `/` and `+`). Standard library only: any Python 3 runs it. Prints nothing else, writes
nothing to disk (docs/infrastructure/mail.md shows the pipe into the environment's secret).
"""

import argparse
import base64
import hashlib
import hmac
import json
import sys
from urllib.parse import quote

_VERSION = b"\x04"
# The signing chain of SES SMTP passwords: a fixed date, then region, service, terminator and action.
_DATE, _SERVICE, _TERMINAL, _MESSAGE = "11111111", "ses", "aws4_request", "SendRawEmail"


def _sign(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def smtp_password(secret_access_key: str, region: str) -> str:
    signature = ("AWS4" + secret_access_key).encode()
    for part in (_DATE, region, _SERVICE, _TERMINAL, _MESSAGE):
        signature = _sign(signature, part)
    return base64.b64encode(_VERSION + signature).decode()


def smtp_url(access_key_id: str, secret_access_key: str, region: str) -> str:
    password = quote(smtp_password(secret_access_key, region), safe="")
    return f"smtps://{quote(access_key_id, safe='')}:{password}@email-smtp.{region}.amazonaws.com:465"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--region", required=True, help="SES region of the environment's identity, e.g. eu-central-1")
    args = parser.parse_args(argv)
    key = json.load(sys.stdin)["AccessKey"]
    print(smtp_url(key["AccessKeyId"], key["SecretAccessKey"], args.region))


if __name__ == "__main__":
    main()
