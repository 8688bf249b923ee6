#!/usr/bin/python3
"""Text a one-time code to a phone number and check the code the user types.

With Twilio's Python SDK (twilio-python; Debian's python3-twilio) and its
Verify v2 API, against otpgate instead of Twilio. Only the lines marked
"otpgate" differ from a Twilio app.

    export OTPGATE_URL=http://127.0.0.1:8080 OTPGATE_ACCOUNT_SID=AC... OTPGATE_AUTH_TOKEN=...
    export OTPGATE_SERVICE_SID=$(python3 verify.py service "My App")
    python3 verify.py send +962790000000
    python3 verify.py check +962790000000 123456

check exits 0 when the code is approved, 1 when it is not; errors exit 2.
"""
import os
import sys

from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

URL = os.environ.get("OTPGATE_URL", "http://127.0.0.1:8080")
USAGE = """usage:
  verify.py service NAME        create a Verify service; prints its SID (set OTPGATE_SERVICE_SID to it)
  verify.py send NUMBER         text a code to NUMBER; prints the verification's SID
  verify.py check NUMBER CODE   check the code NUMBER's user typed; prints approved or not approved
environment: OTPGATE_URL (default http://127.0.0.1:8080), OTPGATE_ACCOUNT_SID, OTPGATE_AUTH_TOKEN,
  OTPGATE_SERVICE_SID (for send and check)"""


def fail(message):
    print(message, file=sys.stderr)
    sys.exit(2)


def verify_service(client):
    """The Verify service that send and check use: OTPGATE_SERVICE_SID."""
    sid = os.environ.get("OTPGATE_SERVICE_SID")
    if not sid:
        fail("set OTPGATE_SERVICE_SID to a service's SID (verify.py service NAME makes one)")
    return client.verify.v2.services(sid)


def main(args):
    sid, token = os.environ.get("OTPGATE_ACCOUNT_SID"), os.environ.get("OTPGATE_AUTH_TOKEN")
    if not sid or not token:
        fail("set OTPGATE_ACCOUNT_SID and OTPGATE_AUTH_TOKEN (otpgate serve prints them on its first start)")
    client = Client(sid, token)  # otpgate: its account SID and auth token
    # otpgate: Verify's requests go to otpgate, not https://verify.twilio.com
    client.verify.base_url = URL

    match args:
        case ["service", name]:
            print(client.verify.v2.services.create(friendly_name=name).sid)
        case ["send", number]:
            print(verify_service(client).verifications.create(to=number, channel="sms").sid)
        case ["check", number, code]:
            check = verify_service(client).verification_checks.create(to=number, code=code)
            if check.status != "approved":
                print(f"not approved ({check.status})")
                return 1
            print("approved")
        case _:
            fail(USAGE)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except TwilioRestException as e:
        # Twilio's error code and the HTTP status.
        fail(f"error {e.code} (HTTP {e.status}): {e.msg}")
    except OSError as e:  # requests' errors: otpgate is not there
        fail(f"cannot reach otpgate at {URL}: {e}")
